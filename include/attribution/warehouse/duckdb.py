"""DuckDB warehouse: DuckDB's CSV reader plus set-based SQL, one transaction per file."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from attribution.events import (
    COLUMN_NAMES,
    EARLIEST_TIMESTAMP_MICROS,
    FUTURE_TOLERANCE_MICROS,
    MAX_FIELD_LENGTH,
    PURCHASE_EVENT,
)
from attribution.landing import BatchFile, inspect
from attribution.warehouse import SERVED_RELATIONS, LoadReport

REJECTED_SAMPLE_BYTES = 64 * 1024
"""How much of a wholly rejected file the quarantine row keeps; the file itself is kept aside."""


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBWarehouse:
    def __init__(self, path: Path, raw_schema: str = "raw", snapshot_path: Path | None = None) -> None:
        self.path = Path(path)
        self.schema = _ident(raw_schema)
        self.snapshot_path = Path(snapshot_path) if snapshot_path else self.path.with_name("serving.duckdb")

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path), read_only=read_only)
        con.execute("set TimeZone = 'UTC'")
        return con

    def ensure_schema(self) -> None:
        with self._connect() as con:
            con.execute(f"""
                create schema if not exists {self.schema};
                create table if not exists {self.schema}.streamed_events (
                    event_id varchar not null,
                    event_timestamp bigint not null,
                    event_name varchar not null,
                    user_pseudo_id varchar not null,
                    ga_session_id bigint not null,
                    source varchar,
                    medium varchar,
                    campaign varchar,
                    transaction_id varchar,
                    purchase_revenue decimal(18, 6),
                    page_location varchar,
                    device_category varchar,
                    country varchar,
                    event_date date not null,
                    _file_name varchar not null,
                    _loaded_at timestamp not null
                );
                create table if not exists {self.schema}.load_ledger (
                    file_name varchar not null,
                    checksum varchar not null,
                    loaded_at timestamp not null,
                    rows_read bigint not null,
                    rows_loaded bigint not null,
                    rows_duplicate bigint not null,
                    rows_quarantined bigint not null,
                    status varchar not null,
                    error varchar,
                    primary key (file_name, checksum)
                );
                create table if not exists {self.schema}.quarantined_rows (
                    file_name varchar not null,
                    line_number bigint,
                    reason varchar not null,
                    raw_record varchar,
                    quarantined_at timestamp not null
                );
            """)

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        with self._connect(read_only=True) as con:
            cursor = con.execute(sql, params or [])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

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
            con.execute(f"attach {_literal(str(self.path))} as warehouse (read_only)")
            con.execute(f"attach {_literal(str(partial))} as serving")
            sources = [(name, f"warehouse.main.{name}") for name in SERVED_RELATIONS]
            sources += [(name, f"warehouse.{self.schema}.{name}") for name in ("load_ledger", "quarantined_rows")]
            for name, source in sources:
                con.execute(f"create table serving.{name} as select * from {source}")
                counts[name] = con.execute(f"select count(*) from serving.{name}").fetchone()[0]
            con.execute("create table serving.published as select now()::timestamp as published_at")
            con.execute("detach serving")
            con.execute("detach warehouse")
        partial.replace(self.snapshot_path)
        return counts

    def load_file(self, path: Path) -> LoadReport:
        batch = inspect(path)
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
        with batch.path.open("rb") as handle:
            sample = handle.read(REJECTED_SAMPLE_BYTES).decode("utf-8", errors="replace")
        con.execute(
            f"insert into {self.schema}.quarantined_rows values (?, null, ?, ?, now()::timestamp)",
            [batch.name, f"file rejected: {batch.problem}", sample],
        )
        report = LoadReport(batch.name, batch.checksum, status="rejected", error=batch.problem)
        self._write_ledger(con, report)
        return report

    def _write_ledger(self, con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
        con.execute(
            f"insert into {self.schema}.load_ledger values (?, ?, now()::timestamp, ?, ?, ?, ?, ?, ?)",
            [
                report.file_name,
                report.checksum,
                report.rows_read,
                report.rows_loaded,
                report.rows_duplicate,
                report.rows_quarantined,
                report.status,
                report.error,
            ],
        )

    def _load_rows(self, con: duckdb.DuckDBPyConnection, batch: BatchFile) -> LoadReport:
        header = batch.header
        columns = "{" + ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in header) + "}"
        con.execute(
            "drop table if exists batch_rows; drop table if exists batch_rejects; drop table if exists batch_scan"
        )
        # Every field as text, in file order (rowid), so every value can be checked and quarantined
        # with its reason instead of failing the whole file; malformed records go to batch_rejects.
        con.execute(f"""
            create temp table batch_rows as
            select * from read_csv({_literal(str(batch.path))},
                header = true, auto_detect = false, columns = {columns},
                delim = ',', quote = '"', escape = '"',
                store_rejects = true, rejects_table = 'batch_rejects', rejects_scan = 'batch_scan')
        """)
        field = {c: (f"batch_rows.{_ident(c)}" if c in header else "null::varchar") for c in COLUMN_NAMES}
        text = {c: f"nullif(trim({field[c]}), '')" for c in COLUMN_NAMES}
        newlines = " + ".join(
            f"coalesce(length({f'batch_rows.{_ident(c)}'}) - length(replace({f'batch_rows.{_ident(c)}'}, chr(10), '')), 0)"
            for c in header
        )
        raw_record = " || ',' || ".join(
            f"""case when batch_rows.{_ident(c)} is null then ''
                     when regexp_matches(batch_rows.{_ident(c)}, '[",\\r\\n]')
                     then '"' || replace(batch_rows.{_ident(c)}, '"', '""') || '"'
                     else batch_rows.{_ident(c)} end"""
            for c in header
        )
        too_long = " ".join(
            f"when length({field[c]}) > {MAX_FIELD_LENGTH} then '{c} longer than {MAX_FIELD_LENGTH} characters'"
            for c in COLUMN_NAMES
        )
        integer = "'^-?[0-9]{1,19}$'"
        decimal = "'^-?[0-9]{1,12}(\\.[0-9]{1,6})?$'"
        now_micros = int(time.time() * 1_000_000)
        # Line numbers are physical lines in the file: DuckDB numbers records, so count the newlines
        # inside quoted fields and the malformed records (which DuckDB reports by record) before each row.
        con.execute(f"""
            create temp table batch_checked as
            with rejects as (
                select line as record_line, string_agg(distinct error_message, '; ') as message,
                       any_value(csv_line) as csv_line,
                       line - 2 - (row_number() over (order by line) - 1) as good_rows_before
                from batch_rejects group by line
            ),
            positioned as (
                select batch_rows.rowid - (select min(rowid) from batch_rows) as k, ({newlines}) as embedded_newlines, ({raw_record}) as raw_record,
                       {", ".join(f"{text[c]} as {c}" for c in COLUMN_NAMES)},
                       {"case " + too_long + " end" if too_long else "null"} as length_problem
                from batch_rows
            ),
            numbered as (
                select positioned.*,
                       2 + k + (select count(*) from rejects where good_rows_before <= k)
                         + coalesce(sum(embedded_newlines) over (order by k rows between unbounded preceding and 1 preceding), 0)
                         as line_number
                from positioned
            ),
            checked as (
                select numbered.*,
                    case
                        when event_id is null then 'missing event_id'
                        when event_timestamp is null then 'missing event_timestamp'
                        when not regexp_matches(event_timestamp, {integer}) or try_cast(event_timestamp as bigint) is null
                            then 'event_timestamp is not an integer count of microseconds: ' || left(event_timestamp, 40)
                        when event_timestamp::bigint < {EARLIEST_TIMESTAMP_MICROS}
                            then 'event_timestamp ' || event_timestamp || ' is before 2000-01-01 (microseconds expected)'
                        when event_timestamp::bigint > {now_micros + FUTURE_TOLERANCE_MICROS}
                            then 'event_timestamp ' || event_timestamp || ' is more than a day in the future'
                        when event_name is null then 'missing event_name'
                        when user_pseudo_id is null then 'missing user_pseudo_id'
                        when ga_session_id is null then 'missing ga_session_id'
                        when not regexp_matches(ga_session_id, {integer}) or try_cast(ga_session_id as bigint) is null
                            then 'ga_session_id is not an integer: ' || left(ga_session_id, 40)
                        when purchase_revenue is not null and not regexp_matches(purchase_revenue, {decimal})
                            then 'purchase_revenue is not a decimal number: ' || left(purchase_revenue, 40)
                        when purchase_revenue::decimal(18, 6) < 0 then 'purchase_revenue is negative: ' || purchase_revenue
                        when event_name = '{PURCHASE_EVENT}' and transaction_id is null then 'purchase without transaction_id'
                        when event_name = '{PURCHASE_EVENT}' and purchase_revenue is null
                            then 'purchase without purchase_revenue'
                        else length_problem
                    end as reason
                from numbered
            ),
            valid as (
                select checked.*,
                    md5(concat_ws(chr(31), {", ".join(f"coalesce({c}, chr(30))" for c in COLUMN_NAMES)})) as content,
                    row_number() over (partition by event_id order by line_number) as occurrence
                from checked where reason is null
            ),
            first_seen as (
                select event_id, content as first_content, line_number as first_line from valid where occurrence = 1
            )
            select
                v.line_number, v.raw_record, {", ".join(f"v.{c}" for c in COLUMN_NAMES)},
                case
                    when v.occurrence > 1 and v.content <> f.first_content then 'quarantine'
                    when v.occurrence > 1 then 'duplicate'
                    when exists (select 1 from {self.schema}.streamed_events e where e.event_id = v.event_id)
                        then 'duplicate'
                    else 'load'
                end as outcome,
                case when v.occurrence > 1 and v.content <> f.first_content
                    then 'event_id repeats line ' || f.first_line || ' with different content' end as reason
            from valid v join first_seen f using (event_id)
            union all
            select line_number, raw_record, {", ".join(COLUMN_NAMES)}, 'quarantine', reason
            from checked where reason is not null
            union all
            select r.record_line + coalesce((
                       select sum(embedded_newlines) from positioned p where p.k < r.good_rows_before), 0),
                   regexp_replace(r.csv_line, '\\r?\\n$', ''),
                   {", ".join("null" for _ in COLUMN_NAMES)}, 'quarantine', 'malformed CSV record: ' || r.message
            from rejects r
        """)
        con.execute(f"""
            insert into {self.schema}.streamed_events
            select event_id, event_timestamp::bigint, event_name, user_pseudo_id, ga_session_id::bigint,
                   source, medium, campaign, transaction_id, purchase_revenue::decimal(18, 6),
                   page_location, device_category, country,
                   make_timestamp(event_timestamp::bigint)::date, {_literal(batch.name)}, now()::timestamp
            from batch_checked where outcome = 'load'
        """)
        con.execute(f"""
            insert into {self.schema}.quarantined_rows
            select {_literal(batch.name)}, line_number, reason, raw_record, now()::timestamp
            from batch_checked where outcome = 'quarantine' order by line_number
        """)
        read, loaded, duplicate, quarantined = con.execute("""
            select count(*), count(*) filter (outcome = 'load'), count(*) filter (outcome = 'duplicate'),
                   count(*) filter (outcome = 'quarantine')
            from batch_checked
        """).fetchone()
        con.execute("drop table batch_rows; drop table batch_rejects; drop table batch_scan; drop table batch_checked")
        ignored = batch.ignored_columns
        report = LoadReport(
            batch.name,
            batch.checksum,
            read,
            loaded,
            duplicate,
            quarantined,
            error=f"ignored column(s) outside the contract: {', '.join(ignored)}" if ignored else None,
        )
        self._write_ledger(con, report)
        return report
