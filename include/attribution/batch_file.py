"""A landed CSV file after the file-level checks (checksum, encoding, header against its contract), the
same for every warehouse. Below the landing, the row checks and the warehouses, which all share it.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from attribution.raw_tables import EVENTS, FileContract

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
    contract: FileContract = EVENTS
    line_breaks: int = 0
    """The file's newline characters: one per record and one for the header in a file whose records
    are one line each (the last one's may be missing)."""

    @property
    def name(self) -> str:
        """Its name in the ledger and the quarantine (a cost file's under ``cost/``)."""
        return self.contract.ledger_name(self.path.name)

    @property
    def ignored_columns(self) -> tuple[str, ...]:
        """Columns outside the contract: not loaded, named in the ledger's error column."""
        return tuple(c for c in self.header if c not in self.contract.column_names)

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


def inspect(path: Path, contract: FileContract = EVENTS) -> BatchFile:
    """Checksum the file and check it can be read as ``contract`` at all (streamed, any size)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    first_line = io.StringIO()
    problem = None
    offset = line_breaks = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            line_breaks += chunk.count(b"\n")
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
        return BatchFile(path, checksum, contract=contract, problem="empty file (0 bytes)")
    if problem:
        return BatchFile(path, checksum, contract=contract, problem=problem)
    header_line = first_line.getvalue().split("\n", 1)[0].removeprefix("\ufeff").rstrip("\r")
    try:
        header = tuple(name.strip() for name in next(csv.reader([header_line])))
    except (csv.Error, StopIteration):
        return BatchFile(path, checksum, contract=contract, problem="header row is not valid CSV")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        return BatchFile(
            path, checksum, header, contract=contract, problem=f"header repeats column(s): {', '.join(duplicated)}"
        )
    missing = [c for c in contract.required_columns if c not in header]
    if missing:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
            hint = " — the header looks delimited by something other than a comma"
        return BatchFile(
            path,
            checksum,
            header,
            contract=contract,
            problem=f"missing required column(s): {', '.join(missing)}; header is {','.join(header)[:200]!r}{hint}",
        )
    return BatchFile(path, checksum, header, contract=contract, line_breaks=line_breaks)
