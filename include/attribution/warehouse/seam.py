"""What the warehouse implementations and their callers share: a load's report, the protocol the DAG
talks to, and the relations the dashboard reads. Below both implementations, so neither imports the
package that picks between them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from attribution.ga4_watch import ExportTable
from attribution.raw_tables import EVENTS, FileContract


@dataclass(frozen=True)
class LoadReport:
    """What loading one file did; mirrors its ``load_ledger`` row."""

    file_name: str
    checksum: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    status: str = "loaded"
    """``loaded``; ``rejected`` (the file cannot be read as the contract); ``already_loaded`` (no-op)."""
    error: str | None = None

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_duplicate + self.rows_quarantined

    def as_dict(self) -> dict:
        return asdict(self)


class Warehouse(Protocol):
    """What the DAG talks to; it never knows which warehouse is behind it."""

    def ensure_schema(self) -> None:
        """Create the raw tables (streamed events, ledger, quarantine) if they do not exist."""

    def load_file(self, path: Path, contract: FileContract = EVENTS) -> LoadReport:
        """Load one landed CSV file per its contract: at most once, deduped, bad rows quarantined."""

    def query(self, sql: str) -> list[dict]:
        """Run a read-only query over the warehouse (marts, ledger) and return rows as dicts."""

    def quarantined_records(self, file_name: str) -> list[dict]:
        """Row-level quarantined records of every load of ``file_name``: line_number, reason, raw_record,
        checksum, quarantined_at; in file order."""

    def publish(self) -> dict[str, int]:
        """Make the marts available to the dashboard; returns row counts of what was published."""

    def query_served(self, sql: str) -> list[dict]:
        """Query what the dashboard may read; ``{name}`` in ``sql`` stands for a served relation
        (SERVED_RELATIONS, ``load_ledger``)."""

    def served_at(self) -> datetime | None:
        """When the served marts were last replaced (UTC, naive); None before the first publish."""

    def last_loaded_at(self) -> datetime | None:
        """When the last batch file was loaded or rejected (UTC, naive, from the ledger); None before any."""

    def ga4_export_tables(self) -> dict[str, ExportTable]:
        """The GA4 export's watched tables (intraday, recent daily) and their metadata (ga4_watch)."""

    def ga4_export_noticed(self) -> dict[str, tuple[ExportTable, datetime]]:
        """Per table, the metadata last noted in ``ga4_export_changes`` and when it was noted."""

    def note_ga4_export(self, changed: dict[str, ExportTable], at: datetime) -> None:
        """Note changed export tables in ``ga4_export_changes`` (unread until a build reads them)."""

    def ga4_export_changed_at(self) -> datetime | None:
        """When a change of the export was last noted (UTC, naive); None if never."""


NOTICED_SQL = """
select table_name, row_count, modified_at, noticed_at from (
    select *, row_number() over (partition by table_name order by noticed_at desc) as newest
    from {changes}
) as noted
where newest = 1
"""
"""The newest noted metadata of each export table (``ga4_export_changes``), on both warehouses."""

SERVED_RELATIONS = (
    "mart_attribution_credits",
    "mart_first_click",
    "mart_last_click",
    "mart_attribution_daily",
    "mart_live_events",
    "mart_set_aside_events",
    "mart_ga4_session_comparison",
    "mart_channel_removal_effects",
    "mart_channel_performance",
    "mart_unmatched_spend",
    "mart_ga4_export_freshness",
    "mart_conversion_paths",
    "mart_path_summary",
    "mart_path_positions",
)
"""What the dashboard reads (with the load ledger); ``publish`` copies each into the serving snapshot
(DuckDB), and on BigQuery they are read where dbt builds them."""
SERVED_TABLES = (*SERVED_RELATIONS, "load_ledger")
"""Never the quarantine: its raw records hold whatever a file held, a user_id among them (docs/identity.md)."""
