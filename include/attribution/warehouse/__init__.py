"""The warehouse seam: the few operations the pipeline needs, one implementation per target.

What both implementations and their callers share (the report of a load, the protocol, the served
relations) is ``attribution.warehouse.seam``; this module picks the implementation.
"""

from __future__ import annotations

from attribution.settings import Settings
from attribution.warehouse.seam import SERVED_RELATIONS, SERVED_TABLES, LoadReport, Warehouse

__all__ = ["SERVED_RELATIONS", "SERVED_TABLES", "LoadReport", "Warehouse", "connect"]


def connect(settings: Settings) -> Warehouse:
    """The warehouse for the configured target."""
    if settings.target == "duckdb":
        from attribution.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(
            settings.warehouse_path,
            memory_limit=settings.duckdb_memory_limit,
            raw_schema=settings.raw_schema,
            snapshot_path=settings.snapshot_path,
            reporting_currency=settings.reporting_currency,
        )
    from attribution.warehouse.bigquery import BigQueryWarehouse

    return BigQueryWarehouse(settings)
