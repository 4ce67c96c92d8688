"""The landing directory (local or ``gs://``): which batch files wait, what each one is, and where it goes once loaded.

File-level checks (checksum, encoding, header) are the same for every warehouse, so they live here;
row-level checks run inside the warehouse as set-based SQL.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from attribution.events import COLUMN_NAMES, REQUIRED_COLUMNS
from attribution.settings import Settings
from attribution.warehouse import LoadReport, Warehouse

log = logging.getLogger(__name__)

CHUNK = 1 << 20
REJECTED_SAMPLE_BYTES = 64 * 1024
"""How much of a wholly rejected file its quarantine row keeps; the file itself is kept aside."""


@dataclass(frozen=True)
class BatchFile:
    """A landed CSV file after the file-level checks; ``problem`` set means it is rejected whole."""

    path: Path
    checksum: str
    header: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ignored_columns(self) -> tuple[str, ...]:
        """Columns outside the contract: not loaded, named in the ledger's error column."""
        return tuple(c for c in self.header if c not in COLUMN_NAMES)

    @property
    def ledger_note(self) -> str | None:
        """The ledger's ``error`` for a file that loads: which columns were ignored, if any."""
        ignored = self.ignored_columns
        return f"ignored column(s) outside the contract: {', '.join(ignored)}" if ignored else None

    def rejection(self) -> tuple[str, str | None]:
        """Quarantine reason and raw sample (None for an empty file) of a file rejected whole."""
        with self.path.open("rb") as handle:
            sample = handle.read(REJECTED_SAMPLE_BYTES).decode("utf-8", errors="replace")
        return f"file rejected: {self.problem}", sample or None


def inspect(path: Path) -> BatchFile:
    """Checksum the file and check it can be read as the contract at all (streamed, any size)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    first_line = io.StringIO()
    problem = None
    offset = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if problem is None:
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    problem = (
                        f"not UTF-8: invalid byte 0x{chunk[error.start]:02x} at byte offset {offset + error.start}"
                    )
                else:
                    if first_line.tell() < CHUNK and "\n" not in first_line.getvalue():
                        first_line.write(text[:CHUNK])
            offset += len(chunk)
    checksum = digest.hexdigest()
    if offset == 0:
        return BatchFile(path, checksum, problem="empty file (0 bytes)")
    if problem:
        return BatchFile(path, checksum, problem=problem)
    header_line = first_line.getvalue().split("\n", 1)[0].removeprefix("\ufeff").rstrip("\r")
    try:
        header = tuple(name.strip() for name in next(csv.reader([header_line])))
    except (csv.Error, StopIteration):
        return BatchFile(path, checksum, problem="header row is not valid CSV")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        return BatchFile(path, checksum, header, problem=f"header repeats column(s): {', '.join(duplicated)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
            hint = " — the header looks delimited by something other than a comma"
        return BatchFile(
            path,
            checksum,
            header,
            problem=f"missing required column(s): {', '.join(missing)}; header is {','.join(header)[:200]!r}{hint}",
        )
    return BatchFile(path, checksum, header)


class LocalLanding:
    """A landing directory; loaded files move to ``archive/``, rejected ones to ``rejected/`` beside it."""

    def __init__(self, directory: Path, archive: Path, rejected: Path) -> None:
        self.directory, self.archive_dir, self.rejected_dir = directory, archive, rejected

    def pending(self) -> list[str]:
        """CSV files waiting, oldest name first (writers publish by rename; dot-files are partial)."""
        if not self.directory.is_dir():
            return []
        return sorted(
            p.name
            for p in self.directory.iterdir()
            if p.is_file() and p.suffix == ".csv" and not p.name.startswith(".")
        )

    @contextmanager
    def fetched(self, name: str) -> Iterator[Path]:
        yield self.directory / name

    @contextmanager
    def archived(self, name: str, checksum: str) -> Iterator[Path]:
        """The archived copy of the file ``name`` that had ``checksum`` when it loaded."""
        for path in (self.archive_dir / name, self.archive_dir / _other_copy_name(name, checksum)):
            if path.is_file() and inspect(path).checksum == checksum:
                yield path
                return
        raise FileNotFoundError(f"no archived copy of {name} with checksum {checksum[:12]} in {self.archive_dir}")

    def set_aside(self, name: str, checksum: str, rejected: bool) -> str:
        directory = self.rejected_dir if rejected else self.archive_dir
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / name
        if target.exists():
            target = directory / _other_copy_name(name, checksum)
        shutil.move(self.directory / name, target)
        return str(target)

    def write(self, make: Callable[[Path], Path]) -> str:
        """Land a file that ``make(directory)`` writes (atomically) into ``directory``."""
        return str(make(self.directory))


class GCSLanding:
    """A ``gs://bucket/prefix`` landing through the Google provider's GCS hook.

    Each file is downloaded to a temporary directory to be checked and loaded, exactly as a local one;
    loaded files move (copy, then delete) to the ``archive/`` prefix beside the landing prefix,
    rejected ones to ``rejected/``. An object appears only once its upload is complete.
    """

    def __init__(self, uri: str, gcp_conn_id: str = "google_cloud_default") -> None:
        self.bucket, self.prefix = split_gcs_uri(uri)
        parent = self.prefix.rpartition("/")[0]
        self.archive_prefix = f"{parent}/archive" if parent else "archive"
        self.rejected_prefix = f"{parent}/rejected" if parent else "rejected"
        self.gcp_conn_id = gcp_conn_id
        self._hook = None

    @property
    def hook(self):
        if self._hook is None:
            from airflow.providers.google.cloud.hooks.gcs import GCSHook

            self._hook = GCSHook(gcp_conn_id=self.gcp_conn_id)
        return self._hook

    def pending(self) -> list[str]:
        names = self.hook.list(self.bucket, prefix=f"{self.prefix}/", delimiter="/")
        return sorted(
            name for object_name in names
            if (name := object_name.rpartition("/")[2]).endswith(".csv") and not name.startswith(".")
        )  # fmt: skip

    @contextmanager
    def fetched(self, name: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="landing-") as directory:
            path = Path(directory) / name
            self.hook.download(self.bucket, f"{self.prefix}/{name}", filename=str(path))
            yield path

    @contextmanager
    def archived(self, name: str, checksum: str) -> Iterator[Path]:
        """The archived copy of the object ``name`` that had ``checksum`` when it loaded, downloaded."""
        with tempfile.TemporaryDirectory(prefix="archive-") as directory:
            path = Path(directory) / name
            for candidate in (name, _other_copy_name(name, checksum)):
                if self.hook.exists(self.bucket, f"{self.archive_prefix}/{candidate}"):
                    self.hook.download(self.bucket, f"{self.archive_prefix}/{candidate}", filename=str(path))
                    if inspect(path).checksum == checksum:
                        yield path
                        return
            where = f"gs://{self.bucket}/{self.archive_prefix}"
            raise FileNotFoundError(f"no archived copy of {name} with checksum {checksum[:12]} under {where}")

    def set_aside(self, name: str, checksum: str, rejected: bool) -> str:
        source = f"{self.prefix}/{name}"
        directory = self.rejected_prefix if rejected else self.archive_prefix
        target = f"{directory}/{name}"
        if self.hook.exists(self.bucket, target):
            target = f"{directory}/{_other_copy_name(name, checksum)}"
        self.hook.copy(self.bucket, source, self.bucket, target)
        self.hook.delete(self.bucket, source)
        return f"gs://{self.bucket}/{target}"

    def write(self, make: Callable[[Path], Path]) -> str:
        with tempfile.TemporaryDirectory(prefix="landing-") as directory:
            path = make(Path(directory))
            self.hook.upload(self.bucket, f"{self.prefix}/{path.name}", filename=str(path))
        return f"gs://{self.bucket}/{self.prefix}/{path.name}"


Landing = LocalLanding | GCSLanding


def _other_copy_name(name: str, checksum: str) -> str:
    """The same name landed again with other content: both are kept, this one tagged by its checksum."""
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.{checksum[:12]}.{suffix}"


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix/`` → (``bucket``, ``some/prefix``)."""
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix.strip("/")


def open_landing(settings: Settings) -> Landing:
    if settings.landing_is_remote:
        return GCSLanding(settings.landing_dir)
    return LocalLanding(settings.landing_path, settings.archive_path, settings.rejected_path)


def load_pending(settings: Settings, warehouse: Warehouse) -> list[LoadReport]:
    """Load every pending file, then move it out of the landing directory.

    A file moves only after its load committed; if the process dies in between, the ledger makes
    the next attempt a no-op that just moves the file.
    """
    warehouse.ensure_schema()
    landing = open_landing(settings)
    reports = []
    for name in landing.pending():
        with landing.fetched(name) as path:
            report = warehouse.load_file(path)
        landing.set_aside(name, report.checksum, rejected=report.status == "rejected")
        log.info(
            "%s: %s — read %d, loaded %d, duplicate %d, quarantined %d%s",
            report.file_name,
            report.status,
            report.rows_read,
            report.rows_loaded,
            report.rows_duplicate,
            report.rows_quarantined,
            f" ({report.error})" if report.error else "",
        )
        reports.append(report)
    return reports
