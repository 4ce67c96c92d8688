"""The landing directory: which batch files wait, what each one is, and where it goes once loaded.

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


def pending_files(settings: Settings) -> list[Path]:
    """CSV files waiting in the landing directory, oldest name first (writers publish by rename)."""
    landing = settings.landing_path
    if not landing.is_dir():
        return []
    return sorted(p for p in landing.iterdir() if p.is_file() and p.suffix == ".csv" and not p.name.startswith("."))


def _move(path: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / path.name
    if target.exists():  # same name landed again with other content: keep both
        target = directory / f"{path.stem}.{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}{path.suffix}"
    shutil.move(path, target)
    return target


def load_pending(settings: Settings, warehouse: Warehouse) -> list[LoadReport]:
    """Load every pending file, then move it out of the landing directory.

    A file moves only after its load committed; if the process dies in between, the ledger makes
    the next attempt a no-op that just moves the file.
    """
    warehouse.ensure_schema()
    reports = []
    for path in pending_files(settings):
        report = warehouse.load_file(path)
        destination = settings.rejected_path if report.status == "rejected" else settings.archive_path
        _move(path, destination)
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
