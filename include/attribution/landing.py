"""The landing location (local or ``gs://``): which files wait, and where each goes once loaded.

Each landed file type (``raw_tables.FILE_CONTRACTS``) has its own directory there: event batches in
the landing itself, cost files under ``cost/``; each is archived (or rejected) under the same
subdirectory beside it. What a file is (its file-level checks) is ``attribution.batch_file``;
row-level checks run inside the warehouse as set-based SQL (``attribution.validation``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from attribution.batch_file import inspect
from attribution.raw_tables import EVENTS, FILE_CONTRACTS, FileContract
from attribution.settings import Settings
from attribution.warehouse import LoadReport, Warehouse

log = logging.getLogger(__name__)


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

    def __init__(self, uri: str, gcp_conn_id: str = "google_cloud_default", subdirectory: str = "") -> None:
        self.bucket, landing_prefix = split_gcs_uri(uri)
        parent = landing_prefix.rpartition("/")[0]
        under = f"/{subdirectory}" if subdirectory else ""
        self.prefix = landing_prefix + under
        self.archive_prefix = (f"{parent}/archive" if parent else "archive") + under
        self.rejected_prefix = (f"{parent}/rejected" if parent else "rejected") + under
        self.gcp_conn_id = gcp_conn_id
        self._hook = None

    @property
    def hook(self):
        if self._hook is None:
            from airflow.providers.google.cloud.hooks.gcs import GCSHook

            self._hook = GCSHook(gcp_conn_id=self.gcp_conn_id)
        return self._hook

    def pending(self) -> list[str]:
        # No delimiter: with one, the hook returns only the sub-prefixes once there is any, hiding the files.
        names = self.hook.list(self.bucket, prefix=f"{self.prefix}/")
        return sorted(
            name for object_name in names
            if "/" not in (name := object_name.removeprefix(f"{self.prefix}/"))
            and name.endswith(".csv") and not name.startswith(".")
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


def open_landing(settings: Settings, contract: FileContract = EVENTS) -> Landing:
    return landing_at(landing_location(settings), contract)


def landing_location(settings: Settings) -> str:
    """Where batches land, absolute: a ``gs://`` URI or a local directory (what the landing trigger watches)."""
    return settings.landing_dir if settings.landing_is_remote else str(settings.landing_path)


def landing_at(location: str, contract: FileContract = EVENTS) -> Landing:
    """Where ``contract``'s files land at ``location`` as :func:`landing_location` gives it (what the
    landing trigger lists)."""
    if "://" in location:
        return GCSLanding(location, subdirectory=contract.directory)
    directory = Path(location)
    parent, under = directory.parent, contract.directory
    return LocalLanding(directory / under, parent / "archive" / under, parent / "rejected" / under)


def contract_of(ledger_name: str) -> FileContract:
    """The file type of a file named as in the ledger (``cost/spend.csv``: a cost file)."""
    directory = ledger_name.rpartition("/")[0]
    return next((c for c in FILE_CONTRACTS if c.directory == directory), EVENTS)


def load_pending(settings: Settings, warehouse: Warehouse) -> list[LoadReport]:
    """Load every pending file of every type, then move it out of the landing directory.

    A file moves only after its load committed; if the process dies in between, the ledger makes
    the next attempt a no-op that just moves the file. Cost files load after event batches, in name
    order: a later file's figures replace an earlier one's.
    """
    warehouse.ensure_schema()
    reports = []
    for contract in FILE_CONTRACTS:
        landing = open_landing(settings, contract)
        for name in landing.pending():
            with landing.fetched(name) as path:
                report = warehouse.load_file(path, contract)
            landing.set_aside(name, report.checksum, rejected=report.status == "rejected")
            _log_load(report)
            reports.append(report)
    return reports


def _log_load(report: LoadReport) -> None:
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


def note_export_changes(settings: Settings, warehouse: Warehouse) -> list[str]:
    """Note what changed in the GA4 export since the last run (ga4_watch); nothing when intraday
    reading is off and the target reads no export of its own."""
    from attribution.ga4_watch import note_changes

    if settings.ga4_intraday.lower() == "false":
        return []
    noted = note_changes(warehouse, settings.ga4_intraday_interval_seconds, datetime.now(UTC).replace(tzinfo=None))
    if noted:
        log.info("GA4 export changed: %s", ", ".join(noted))
    return noted


def build_reason(warehouse: Warehouse, full_refresh: bool = False) -> str | None:
    """Why a run must build and publish the models, or None: nothing was loaded, and no change of the
    GA4 export noted (ga4_watch), since the last publish.

    Compared through the ledger, not this run's files: a run that loaded but failed before publishing
    leaves its rows unserved, and the next run builds them even with nothing new landed.
    """
    if full_refresh:
        return "full refresh requested"
    served_at = warehouse.served_at()
    if served_at is None:
        return "nothing published yet"
    loaded_at = warehouse.last_loaded_at()
    if loaded_at is not None and loaded_at > served_at:
        return f"batches loaded since the last publish ({served_at:%Y-%m-%d %H:%M:%S} UTC)"
    changed_at = warehouse.ga4_export_changed_at()
    if changed_at is not None and changed_at > served_at:
        return f"the GA4 export changed since the last publish ({served_at:%Y-%m-%d %H:%M:%S} UTC)"
    return None
