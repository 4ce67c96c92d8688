"""DuckDB warehouse: DuckDB's CSV reader plus set-based SQL, one transaction per file."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import duckdb

from attribution import ga4_export
from attribution.batch_file import BatchFile, inspect
from attribution.ga4_watch import ExportTable, is_intraday
from attribution.raw_tables import EVENTS, LOAD_LEDGER, RAW_TABLES, FileContract
from attribution.settings import GA4_HISTORY_TABLE
from attribution.validation import check_rows, mark_existing, sql_ident, sql_literal, typed_columns
from attribution.warehouse.seam import NOTICED_SQL, SERVED_RELATIONS, SERVED_TABLES, LoadReport


class DuckDBWarehouse:
    def __init__(
        self,
        path: Path,
        memory_limit: str,
        raw_schema: str = "raw",
        snapshot_path: Path | None = None,
        reporting_currency: str = "USD",
    ) -> None:
        self.path = Path(path)
        self.reporting_currency = reporting_currency
        self.memory_limit = memory_limit
        self.schema_name = raw_schema
        self.schema = sql_ident(raw_schema)
        self.snapshot_path = Path(snapshot_path) if snapshot_path else self.path.with_name("serving.duckdb")

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Bounded memory: a batch of any size spills to a temp directory beside the warehouse instead.
        con = duckdb.connect(str(self.path), read_only=read_only, config={"memory_limit": self.memory_limit})
        con.execute("set TimeZone = 'UTC'")
        return con

    def ensure_schema(self) -> None:
        """The raw tables in their current shape. A warehouse already in it is told by one catalog query
        (every load starts with this): the ledger's comment names the shape its DDL last ensured."""
        tables = [*(table.name for table in RAW_TABLES), GA4_HISTORY_TABLE]
        statements = [f"create schema if not exists {self.schema}"]
        for table in RAW_TABLES:
            statements += table.ddl("duckdb", f"{self.schema}.{table.name}")
        statements.append(
            f"create table if not exists {self.schema}.{GA4_HISTORY_TABLE} ({ga4_export.columns_ddl('duckdb')})"
        )
        shape = hashlib.sha256("\n".join(statements).encode()).hexdigest()[:16]
        with self._connect() as con:
            present, marked = con.execute(
                "select count(*), bool_or(table_name = 'load_ledger' and comment = ?) from duckdb_tables()"
                " where database_name = current_database() and schema_name = ? and table_name in ?",
                [f"shape {shape}", self.schema_name, tables],
            ).fetchone()
            if present == len(tables) and marked:
                return
            for statement in statements:
                con.execute(statement)
            self._upgrade_ga4_events(con)
            con.execute(f"comment on table {self.schema}.load_ledger is {sql_literal(f'shape {shape}')}")

    def _upgrade_ga4_events(self, con: duckdb.DuckDBPyConnection) -> None:
        """A history table from an older export shape gains the newer columns and struct fields in place.

        Its rows stay; what they lack is null. One catalog query when the table is current: its column
        types are compared with a temp table of the current shape (DuckDB spells both the same way).
        """
        con.execute(f"create or replace temp table ga4_shape ({ga4_export.columns_ddl('duckdb')})")
        stale = con.execute(
            """
            select wanted.column_name, found.column_name is null
            from duckdb_columns() as wanted
            left join duckdb_columns() as found
                on found.database_name = current_database() and found.schema_name = ?
                and found.table_name = ? and found.column_name = wanted.column_name
            where wanted.database_name = 'temp' and wanted.table_name = 'ga4_shape'
                and found.data_type is distinct from wanted.data_type
            """,
            [self.schema_name, GA4_HISTORY_TABLE],
        ).fetchall()
        con.execute("drop table ga4_shape")
        table = f"{self.schema}.{GA4_HISTORY_TABLE}"
        field_types = dict(ga4_export.SCHEMA)
        for name, missing in stale:
            if missing:
                # Only what later exports added: a table without a column every export has stays as it
                # is, and stg_ga4_events names the column when it cannot build.
                if name in ga4_export.NEWER_COLUMNS:
                    con.execute(f"alter table {table} add column if not exists {name} {self._type(field_types[name])}")
                continue
            # A struct that lacks fields (ecommerce before purchase_revenue_in_usd): add each one missing.
            for path, field_type in ga4_export.struct_fields(name, field_types[name]):
                con.execute(f"alter table {table} add column if not exists {path} {self._type(field_type)}")

    @staticmethod
    def _type(field_type) -> str:
        return ga4_export.column_type(field_type, "duckdb")

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self._connect(read_only=True) as con:
            return _rows(con, sql, params)

    def quarantined_records(self, file_name: str) -> list[dict]:
        return self.query(
            "select line_number, reason, raw_record, _batch_checksum as checksum, quarantined_at"
            f" from {self.schema}.quarantined_rows where file_name = ? and line_number is not null"
            " order by quarantined_at, line_number",
            [file_name],
        )

    def query_served(self, sql: str) -> list[dict]:
        # The snapshot, never the warehouse: a reader on the warehouse file would lock out the pipeline.
        with duckdb.connect(str(self.snapshot_path), read_only=True) as con:
            return _rows(con, sql.format(**{name: name for name in SERVED_TABLES}))

    def served_at(self) -> datetime | None:
        if not self.snapshot_path.exists():
            return None
        with duckdb.connect(str(self.snapshot_path), read_only=True) as con:
            return con.execute("select published_at from published").fetchone()[0]

    def last_loaded_at(self) -> datetime | None:
        return self.query(f"select max(loaded_at) as loaded_at from {self.schema}.load_ledger")[0]["loaded_at"]

    def ga4_export_tables(self) -> dict[str, ExportTable]:
        """The embedded history table and any intraday tables beside it, by row count (DuckDB keeps no
        modification time)."""
        with self._connect(read_only=True) as con:
            names = con.execute(
                "select table_name from duckdb_tables() where database_name = current_database() and schema_name = ?",
                [self.schema_name],
            ).fetchall()
            watched = [name for (name,) in names if is_intraday(name) or name == GA4_HISTORY_TABLE]
            return {
                name: ExportTable(
                    con.execute(f"select count(*) from {self.schema}.{sql_ident(name)}").fetchone()[0], None
                )
                for name in watched
            }

    def ga4_export_noticed(self) -> dict[str, tuple[ExportTable, datetime]]:
        rows = self.query(NOTICED_SQL.format(changes=f"{self.schema}.ga4_export_changes"))
        return {r["table_name"]: (ExportTable(r["row_count"], r["modified_at"]), r["noticed_at"]) for r in rows}

    def note_ga4_export(self, changed: dict[str, ExportTable], at: datetime) -> None:
        with self._connect() as con:
            con.executemany(
                f"insert into {self.schema}.ga4_export_changes values (?, ?, ?, ?)",
                [[name, table.rows, table.modified, at] for name, table in sorted(changed.items())],
            )

    def ga4_export_changed_at(self) -> datetime | None:
        return self.query(f"select max(noticed_at) as at from {self.schema}.ga4_export_changes")[0]["at"]

    def publish(self) -> dict[str, int]:
        """Copy the marts and the ledger into the serving snapshot and swap it in atomically.

        The dashboard reads only the snapshot, so it never holds the warehouse file that pipeline
        tasks write (DuckDB allows one writer and no readers beside it).
        """
        partial = self.snapshot_path.with_name(f".{self.snapshot_path.name}.partial")
        partial.unlink(missing_ok=True)
        counts = {}
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            con.execute(f"attach {sql_literal(str(self.path))} as warehouse (read_only)")
            con.execute(f"attach {sql_literal(str(partial))} as serving")
            sources = [(name, f"warehouse.main.{name}") for name in SERVED_RELATIONS]
            sources.append(("load_ledger", f"warehouse.{self.schema}.load_ledger"))
            for name, source in sources:
                con.execute(f"create table serving.{name} as select * from {source}")
                counts[name] = con.execute(f"select count(*) from serving.{name}").fetchone()[0]
            con.execute("create table serving.published as select now()::timestamp as published_at")
            con.execute("detach serving")
            con.execute("detach warehouse")
        partial.replace(self.snapshot_path)
        return counts

    def load_file(self, path: Path, contract: FileContract = EVENTS) -> LoadReport:
        batch = inspect(path, contract)
        with self._connect() as con:
            previous = con.execute(
                f"select rows_read, rows_loaded, rows_duplicate, rows_quarantined, error from {self.schema}.load_ledger"
                " where file_name = ? and checksum = ?",
                [batch.name, batch.checksum],
            ).fetchone()
            if previous:
                return LoadReport(batch.name, batch.checksum, *previous[:4], status="already_loaded", error=previous[4])
            con.execute("begin transaction")
            try:
                report = self._reject_file(con, batch) if batch.problem else self._load_rows(con, batch)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
            return report

    def _reject_file(self, con: duckdb.DuckDBPyConnection, batch: BatchFile) -> LoadReport:
        reason, sample = batch.rejection()
        con.execute(
            f"insert into {self.schema}.quarantined_rows values (?, null, ?, ?, now()::timestamp, ?)",
            [batch.name, reason, sample, batch.checksum],
        )
        report = LoadReport(batch.name, batch.checksum, status="rejected", error=batch.problem)
        self._write_ledger(con, report, batch.contract.name)
        return report

    def _write_ledger(
        self, con: duckdb.DuckDBPyConnection, report: LoadReport, file_type: str, first_event_date: date | None = None
    ) -> None:
        con.execute(
            f"insert into {self.schema}.load_ledger ({', '.join(LOAD_LEDGER.column_names)})"
            " values (?, ?, now()::timestamp, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report.file_name,
                report.checksum,
                report.rows_read,
                report.rows_loaded,
                report.rows_duplicate,
                report.rows_quarantined,
                report.status,
                report.error,
                first_event_date,
                file_type,
            ],
        )

    def _load_rows(self, con: duckdb.DuckDBPyConnection, batch: BatchFile) -> LoadReport:
        contract = batch.contract
        table = f"{self.schema}.{contract.table.name}"
        check_rows(con, batch, {"reporting_currency": self.reporting_currency})
        replaced = mark_existing(con, contract, table)
        columns = typed_columns(contract)
        con.execute(f"""
            insert into {table} ({", ".join(name for name, _ in columns)}, _batch_file, _batch_checksum, _loaded_at)
            select {", ".join(sql for _, sql in columns)}, {sql_literal(batch.name)}, {sql_literal(batch.checksum)},
                   now()::timestamp
            from batch_checked where outcome = 'new'
        """)
        con.execute(f"""
            insert into {self.schema}.quarantined_rows
            select {sql_literal(batch.name)}, line_number, reason, raw_record, now()::timestamp,
                   {sql_literal(batch.checksum)}
            from batch_checked where outcome = 'quarantine' order by line_number
        """)
        read, loaded, duplicate, quarantined, first_date = con.execute("""
            select count(*), count(*) filter (outcome = 'new'), count(*) filter (outcome = 'duplicate'),
                   count(*) filter (outcome = 'quarantine'), min(partition_date) filter (outcome = 'new')
            from batch_checked
        """).fetchone()
        con.execute("drop table batch_checked")
        note = "; ".join(filter(None, (batch.ledger_note, replaced))) or None
        report = LoadReport(batch.name, batch.checksum, read, loaded, duplicate, quarantined, error=note)
        # first_event_date bounds what the event models read again (incremental_by_user.sql): events only.
        self._write_ledger(con, report, contract.name, first_date if contract is EVENTS else None)
        return report


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
