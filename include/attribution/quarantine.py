"""Re-process quarantined rows once they are fixed: export them as a batch, fix it, land it again.

    python -m attribution.quarantine export events-0001.csv --out fixed.csv
    # fix the rows in fixed.csv (each row's reason is printed), then:
    mv fixed.csv data/landing/events-0001.requeued.csv

The export has the original file's header (from its archived copy) and the quarantined records
exactly as they arrived, in file order. Landed again, it loads like any batch: fixed rows load, rows
already loaded count as duplicates, rows still wrong are quarantined again with their reason, and
its own ledger row reconciles.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attribution.landing import contract_of, open_landing
from attribution.settings import Settings, load_settings
from attribution.warehouse import connect


def export(settings: Settings, file_name: str, out: Path, checksum: str | None = None) -> list[dict]:
    """Write the quarantined records of ``file_name`` (its latest load, or the one with ``checksum``)
    to ``out``; returns them (line_number, reason, raw_record)."""
    records = connect(settings).quarantined_records(file_name)
    if checksum:
        records = [r for r in records if r["checksum"].startswith(checksum)]
    if not records:
        raise SystemExit(f"no quarantined rows of {file_name}" + (f" with checksum {checksum}" if checksum else ""))
    latest = records[-1]["checksum"]
    records = [r for r in records if r["checksum"] == latest]
    contract = contract_of(file_name)
    archived_name = file_name.rpartition("/")[2]
    with (
        open_landing(settings, contract).archived(archived_name, latest) as original,
        original.open(encoding="utf-8") as f,
    ):
        header = f.readline().removeprefix("\ufeff").rstrip("\r\n")
    out.write_text(header + "\n" + "".join(r["raw_record"].rstrip("\r\n") + "\n" for r in records), encoding="utf-8")
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attribution.quarantine", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export_parser = commands.add_parser("export", help="write a file's quarantined rows as a batch to fix")
    export_parser.add_argument("file_name", help="the batch's file name, as in raw.load_ledger")
    export_parser.add_argument("--out", type=Path, help="where to write (default: <name>.quarantined.csv here)")
    export_parser.add_argument("--checksum", help="which load of that name (checksum prefix); default: the latest")
    args = parser.parse_args(argv)
    out = args.out or Path(f"{Path(args.file_name).stem}.quarantined.csv")
    records = export(load_settings(), args.file_name, out, args.checksum)
    for record in records:
        print(f"line {record['line_number']}: {record['reason']}")
    where = (
        f"the landing's {contract_of(args.file_name).directory}/ directory"
        if "/" in args.file_name
        else "the landing directory"
    )
    print(f"{len(records)} row(s) written to {out}: fix them, then move the file into {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
