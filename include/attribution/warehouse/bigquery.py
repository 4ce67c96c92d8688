"""BigQuery warehouse: batch load jobs only (no streaming inserts), the ledger row written last.

Rows are checked in an in-process DuckDB with the same SQL as the embedded warehouse, the clean
ones are staged with CSV load jobs, and idempotent statements dedupe them against the warehouse
and write events, quarantine rows and, last, the ledger row (see ``_commit``).
"""

from __future__ import annotations

import csv
import dataclasses
import re
import tempfile
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from google.api_core.exceptions import Forbidden, NotFound
from google.cloud import bigquery

from attribution import ga4_export
from attribution.batch_file import BatchFile, inspect
from attribution.ga4_watch import DAILY_TABLES_WATCHED, ExportTable, is_intraday
from attribution.raw_tables import EVENTS, LOAD_LEDGER, RAW_TABLES, FileContract
from attribution.settings import GA4_HISTORY_TABLE, Settings, SettingsError
from attribution.validation import check_rows, mark_existing, typed_columns
from attribution.warehouse.seam import NOTICED_SQL, SERVED_RELATIONS, SERVED_TABLES, LoadReport

GCP_CONN_ID = "google_cloud_default"

_QUARANTINE_COLUMNS = (("line_number", "INT64"), ("reason", "STRING"), ("raw_record", "STRING"))
_META_COLUMNS = (
    ("file_name", "STRING"),
    ("checksum", "STRING"),
    ("rows_read", "INT64"),
    ("rows_quarantined", "INT64"),
    ("status", "STRING"),
    ("error", "STRING"),
)


def _escape(value: object) -> object:
    """Percent-escape line breaks in staged text: CSV loads then need no quoted newlines."""
    if isinstance(value, str):
        return value.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")
    return value


def _unescape(column: str) -> str:
    return rf"replace(replace(replace({column}, '%0A', '\n'), '%0D', '\r'), '%25', '%')"


def _select_unescaped(alias: str, columns) -> str:
    return ", ".join(
        f"{_unescape(f'{alias}.{name}') if kind == 'STRING' else f'{alias}.{name}'} as {name}" for name, kind in columns
    )


def _schema(columns) -> list[bigquery.SchemaField]:
    return [bigquery.SchemaField(name, kind) for name, kind in columns]


def _ga4_schema(fields) -> list[bigquery.SchemaField]:
    """:data:`ga4_export.SCHEMA` fields as BigQuery schema fields (a repeated struct is a REPEATED RECORD)."""
    schema = []
    for name, field_type in fields:
        if isinstance(field_type, list):
            schema.append(bigquery.SchemaField(name, "RECORD", mode="REPEATED", fields=_ga4_schema(field_type[0])))
        elif isinstance(field_type, tuple):
            schema.append(bigquery.SchemaField(name, "RECORD", fields=_ga4_schema(field_type)))
        else:
            schema.append(bigquery.SchemaField(name, ga4_export.column_type(field_type, "bigquery")))
    return schema


def _with_missing_fields(found, wanted) -> tuple[list[bigquery.SchemaField], bool]:
    """``found`` with every field of ``wanted`` it lacks appended, at any depth; and whether any was."""
    schema, changed = list(found), False
    position = {field.name.lower(): i for i, field in enumerate(schema)}
    for field in wanted:
        i = position.get(field.name.lower())
        if i is None:
            schema.append(field)
            changed = True
        elif field.field_type == "RECORD" and schema[i].field_type in ("RECORD", "STRUCT"):
            inner, inner_changed = _with_missing_fields(schema[i].fields, field.fields)
            if inner_changed:
                record = schema[i].to_api_repr() | {"fields": [f.to_api_repr() for f in inner]}
                schema[i] = bigquery.SchemaField.from_api_repr(record)
                changed = True
    return schema, changed


class BigQueryWarehouse:
    def __init__(self, settings: Settings) -> None:
        self.project = settings.bq_project
        self.dataset = settings.bq_dataset
        self.location = settings.bq_location
        self.ga4_source = settings.ga4_source
        self.ga4_table = settings.ga4_table
        self.api_endpoint = settings.bq_api_endpoint
        self.maximum_bytes_billed = settings.bq_maximum_bytes_billed
        self.duckdb_memory_limit = settings.duckdb_memory_limit
        self.reporting_currency = settings.reporting_currency
        self._client: bigquery.Client | None = None

    @property
    def client(self) -> bigquery.Client:
        """A client with the credentials of the ``google_cloud_default`` connection (Google provider)."""
        if self._client is None:
            from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

            hook = BigQueryHook(gcp_conn_id=GCP_CONN_ID, location=self.location, use_legacy_sql=False)
            # BigQueryHook.get_client() takes no endpoint: build the client from the hook's parts.
            self._client = bigquery.Client(
                project=self.project,
                location=self.location,
                credentials=hook.get_credentials(),
                client_options=hook.get_client_options(api_endpoint_override=self.api_endpoint),
            )
        return self._client

    def _table(self, name: str) -> str:
        return f"`{self.project}.{self.dataset}.{name}`"

    def _run(self, sql: str) -> list[dict]:
        # Values never go into SQL text: they travel in staged tables (see _stage_rows), so the SQL
        # holds only identifiers from validated settings, integers and our own hex checksums.
        config = bigquery.QueryJobConfig(maximum_bytes_billed=self.maximum_bytes_billed)
        return [dict(row.items()) for row in self.client.query(sql, job_config=config).result()]

    def check_ga4_source(self) -> None:
        """Refuse, before any job runs, a GA4 export that the models' jobs cannot read.

        A BigQuery job runs in one location and reads only datasets there: with the export elsewhere
        every dbt run would fail at run time with an error that names neither setting.
        """
        if not self.ga4_source:
            return
        try:
            export = self.client.get_dataset(self.ga4_source)
        except (NotFound, Forbidden) as error:
            raise SettingsError(
                f"ATTRIBUTION_GA4_SOURCE {self.ga4_source}: the pipeline's credentials cannot read the dataset"
                f" (they need bigquery.datasets.get on it, e.g. roles/bigquery.dataViewer): {error.message}"
            ) from None
        if export.location and export.location.lower() != self.location.lower():
            raise SettingsError(
                f"ATTRIBUTION_GA4_SOURCE {self.ga4_source} is in location {export.location}, but"
                f" ATTRIBUTION_BQ_LOCATION is {self.location}: BigQuery reads a dataset only from jobs in its"
                f" own location. Set ATTRIBUTION_BQ_LOCATION={export.location} (and keep"
                f" ATTRIBUTION_BQ_DATASET there), or copy the export into {self.location}."
            )

    def ensure_schema(self) -> None:
        self.check_ga4_source()
        dataset = bigquery.Dataset(f"{self.project}.{self.dataset}")
        dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True)
        for table in RAW_TABLES:
            for statement in table.ddl("bigquery", self._table(table.name)):
                self._run(statement)
        # GA4 history is read from the export (ATTRIBUTION_GA4_SOURCE); without one, from this empty
        # table with the export's columns, so the models stay the same.
        self._run(f"create table if not exists {self._table(GA4_HISTORY_TABLE)} ({ga4_export.columns_ddl('bigquery')})")
        self._upgrade_ga4_events()

    def _upgrade_ga4_events(self) -> None:
        """A ``ga4_events`` table from an older export shape gains the newer columns and RECORD fields.

        One metadata read when it is current, else one schema patch: BigQuery adds columns and nested
        fields that way (its DDL cannot add a field to a RECORD). Existing rows read null in them.
        """
        table = self.client.get_table(f"{self.project}.{self.dataset}.{GA4_HISTORY_TABLE}")
        schema, changed = _with_missing_fields(table.schema, _ga4_schema(ga4_export.SCHEMA))
        if changed:
            table.schema = schema
            self.client.update_table(table, ["schema"])

    def query(self, sql: str) -> list[dict]:
        return self._run(sql)

    def quarantined_records(self, file_name: str) -> list[dict]:
        rows = self._run(
            "select file_name, line_number, reason, raw_record, _batch_checksum as checksum, quarantined_at"
            f" from {self._table('quarantined_rows')} where line_number is not null"
            " order by quarantined_at, line_number"
        )
        # The name is compared here: it never enters SQL text.
        return [{k: _naive_utc(v) for k, v in row.items() if k != "file_name"} for row in rows
                if row["file_name"] == file_name]  # fmt: skip

    def query_served(self, sql: str) -> list[dict]:
        rows = self._run(sql.format(**{name: self._table(name) for name in SERVED_TABLES}))
        return [{key: _naive_utc(value) for key, value in row.items()} for row in rows]

    def served_at(self) -> datetime | None:
        """On BigQuery the marts are served where dbt builds them: when the credits mart last changed."""
        try:
            table = self.client.get_table(f"{self.project}.{self.dataset}.mart_attribution_credits")
        except NotFound:
            return None
        return _naive_utc(table.modified)

    def last_loaded_at(self) -> datetime | None:
        return _naive_utc(
            self._run(f"select max(loaded_at) as loaded_at from {self._table('load_ledger')}")[0]["loaded_at"]
        )

    def ga4_export_tables(self) -> dict[str, ExportTable]:
        """Metadata calls only (one ``tables.list``, one ``tables.get`` per watched table): no query
        bytes. Rows in the streaming buffer count, since GA4 streams into its intraday tables."""
        if not self.ga4_source:
            return {}
        dataset = self.ga4_source
        names = [table.table_id for table in self.client.list_tables(dataset)]
        watched = [name for name in names if is_intraday(name)]
        if self.ga4_table.endswith("*"):
            shard = re.compile(re.escape(self.ga4_table[:-1]) + r"\d{8}")
            watched += sorted(name for name in names if shard.fullmatch(name))[-DAILY_TABLES_WATCHED:]
        elif self.ga4_table in names:
            watched.append(self.ga4_table)
        tables = {}
        for name in watched:
            table = self.client.get_table(f"{dataset}.{name}")
            buffered = (table.streaming_buffer.estimated_rows or 0) if table.streaming_buffer else 0
            tables[name] = ExportTable((table.num_rows or 0) + buffered, _naive_utc(table.modified))
        return tables

    def ga4_export_noticed(self) -> dict[str, tuple[ExportTable, datetime]]:
        rows = self._run(NOTICED_SQL.format(changes=self._table("ga4_export_changes")))
        return {
            r["table_name"]: (ExportTable(r["row_count"], _naive_utc(r["modified_at"])), _naive_utc(r["noticed_at"]))
            for r in rows
        }

    def note_ga4_export(self, changed: dict[str, ExportTable], at: datetime) -> None:
        # Table names matched the export's naming (letters, digits, _), counts are integers and the
        # times our own: nothing else enters the SQL text.
        def timestamp(value: datetime | None) -> str:
            return f"timestamp '{value:%Y-%m-%d %H:%M:%S.%f}'" if value else "cast(null as TIMESTAMP)"

        values = []
        for name, table in sorted(changed.items()):
            if not re.fullmatch(r"[A-Za-z0-9_]{1,1024}", name):
                raise ValueError(f"not an export table name: {name!r}")
            rows = "cast(null as INT64)" if table.rows is None else str(int(table.rows))
            values.append(f"('{name}', {rows}, {timestamp(table.modified)}, {timestamp(at)})")
        self._run(f"insert into {self._table('ga4_export_changes')} values {', '.join(values)}")

    def ga4_export_changed_at(self) -> datetime | None:
        rows = self._run(f"select max(noticed_at) as at from {self._table('ga4_export_changes')}")
        return _naive_utc(rows[0]["at"])

    def publish(self) -> dict[str, int]:
        """On BigQuery the marts are the serving tables: report their sizes."""
        return {name: self._run(f"select count(*) as n from {self._table(name)}")[0]["n"] for name in SERVED_RELATIONS}

    def _ledger_row(self, file_name: str, checksum: str) -> dict | None:
        """This file's ledger row, if any. The name is compared here: it never enters SQL text."""
        rows = self._run(
            "select file_name, rows_read, rows_loaded, rows_duplicate, rows_quarantined, error"
            f" from {self._table('load_ledger')} where checksum = '{checksum}'"  # our own hex digest
        )
        return next((row for row in rows if row["file_name"] == file_name), None)

    def load_file(self, path: Path, contract: FileContract = EVENTS) -> LoadReport:
        batch = inspect(path, contract)
        if previous := self._ledger_row(batch.name, batch.checksum):
            return LoadReport(
                batch.name, batch.checksum, previous["rows_read"], previous["rows_loaded"],
                previous["rows_duplicate"], previous["rows_quarantined"], status="already_loaded",
                error=previous["error"],
            )  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="attribution-stage-") as tmp:
            staging = Path(tmp)
            if batch.problem:
                report = LoadReport(batch.name, batch.checksum, status="rejected", error=batch.problem)
                reason, sample = batch.rejection()
                return self._commit(report, staging, contract, quarantine_rows=[(None, reason, sample)])
            return self._load_rows(batch, staging)

    def _stage(self, csv_path: Path, columns) -> str:
        """Load a CSV into a fresh staging table with a batch load job; returns its name."""
        table = f"_stage_{uuid.uuid4().hex}"
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.CSV,
            schema=_schema(columns),
            skip_leading_rows=1,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        )
        with csv_path.open("rb") as handle:
            self.client.load_table_from_file(
                handle, f"{self.project}.{self.dataset}.{table}", job_config=config
            ).result()
        return table

    def _stage_rows(self, directory: Path, name: str, columns, rows) -> str:
        path = directory / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow([c for c, _ in columns])
            writer.writerows([_escape(v) for v in row] for row in rows)
        return self._stage(path, columns)

    def _load_rows(self, batch: BatchFile, staging: Path) -> LoadReport:
        contract = batch.contract
        rows_csv = staging / "rows.csv"
        columns = typed_columns(contract)
        kinds = dict(contract.table.bigquery_columns(contract.loaded_columns))
        # Typed for the load job; text percent-escaped like _escape does for staged rows.
        escaped = "replace(replace(replace({}, '%', '%25'), chr(10), '%0A'), chr(13), '%0D')"
        # The row checks run in a local DuckDB: bounded memory, spilling to the temp directory.
        spill = {
            "memory_limit": self.duckdb_memory_limit,
            "temp_directory": str(Path(tempfile.gettempdir()) / "duckdb"),
        }
        with duckdb.connect(config=spill) as con:
            con.execute("set TimeZone = 'UTC'")
            check_rows(con, batch, {"reporting_currency": self.reporting_currency})
            first, last = con.execute(
                "select min(partition_date), max(partition_date) from batch_checked where outcome = 'new'"
            ).fetchone()
            replaced = None
            if contract.existing_key == "replace" and first is not None:
                # The figures loaded before this file (whose earlier attempt may have written some rows):
                # few rows (days x keys), compared here like the DuckDB warehouse compares them.
                self._copy_rows_before(con, batch, first, last)
                replaced = mark_existing(con, contract, "rows_before")
            con.execute(f"""
                copy (
                    select {", ".join((escaped if kinds[name] == "STRING" else "{}").format(sql) for name, sql in columns)}
                    from batch_checked where outcome = 'new' order by line_number
                ) to '{rows_csv}' (header, delimiter ',')
            """)
            read, candidates, first, last = con.execute("""
                select count(*), count(*) filter (outcome = 'new'),
                       min(partition_date) filter (outcome = 'new'), max(partition_date) filter (outcome = 'new')
                from batch_checked
            """).fetchone()
            quarantine = con.execute(
                "select line_number, reason, raw_record from batch_checked where outcome = 'quarantine'"
                " order by line_number"
            ).fetchall()
        note = "; ".join(filter(None, (batch.ledger_note, replaced))) or None
        report = LoadReport(batch.name, batch.checksum, rows_read=read, rows_quarantined=len(quarantine), error=note)
        if not candidates:
            return self._commit(report, staging, contract, quarantine)
        return self._commit(report, staging, contract, quarantine, rows_csv=rows_csv, dates=(first, last))

    def _copy_rows_before(self, con: duckdb.DuckDBPyConnection, batch: BatchFile, first: date, last: date) -> None:
        """Table ``rows_before`` in ``con``: the contract table's rows of those dates, but this file's."""
        table = batch.contract.table
        rows = self._run(
            f"select * from {self._table(table.name)}"
            f" where {batch.contract.date_column} between date '{first.isoformat()}' and date '{last.isoformat()}'"
        )
        for statement in table.ddl("duckdb", "rows_before"):
            con.execute(statement)
        # The name is compared here: it never enters SQL text.
        before = [r for r in rows if (r["_batch_file"], r["_batch_checksum"]) != (batch.name, batch.checksum)]
        if before:
            con.executemany(
                f"insert into rows_before values ({', '.join('?' for _ in table.columns)})",
                [[_naive_utc(row[name]) for name in table.column_names] for row in before],
            )

    def _commit(
        self,
        report: LoadReport,
        staging: Path,
        contract: FileContract,
        quarantine_rows,
        rows_csv: Path | None = None,
        dates: tuple[date, date] | None = None,
    ) -> LoadReport:
        """Write the rows, quarantine rows, then the ledger row: the load's commit point.

        BigQuery commits each statement of a script on its own. Each is idempotent for this file
        (rows carry the file's name and checksum), and the models read only rows of files with a
        ledger row (stg_streamed_events, stg_ad_spend), so a load that died half-way is invisible, and
        the next attempt completes it with the same numbers a clean load gives.
        """
        meta = self._stage_rows(
            staging, "meta", _META_COLUMNS,
            [(report.file_name, report.checksum, report.rows_read, report.rows_quarantined, report.status, report.error)],
        )  # fmt: skip
        staged = [meta]
        checksum = f"'{report.checksum}'"  # our own hex digest
        # Rows written by this file (name and content): the same content under another name is another file.
        file_name = f"(select {_unescape('file_name')} from {self._table(meta)})"
        statements = []
        loaded, first_event_date = "0", "cast(null as date)"
        if rows_csv:
            table, columns = self._table(contract.table.name), contract.table.bigquery_columns(contract.loaded_columns)
            # Only the partitions of this file's dates are read.
            in_dates = f"{contract.date_column} between " + " and ".join(f"date '{d.isoformat()}'" for d in dates)
            this_file = f"from {table} where {in_dates} and _batch_checksum = {checksum} and _batch_file = {file_name}"
            loaded = f"(select count(*) {this_file})"
            if contract is EVENTS:  # first_event_date bounds what the event models read again
                first_event_date = f"(select min(event_date) {this_file})"
            staged.append(rows := self._stage(rows_csv, columns))
            # A key already there is a duplicate: any file's event; a cost row of this file's (a retry),
            # the other files' figures having been compared before staging (_copy_rows_before).
            key = " and ".join(f"earlier.{name} = staged.{name}" for name in contract.key)
            if contract.existing_key == "replace":
                key += f" and earlier._batch_checksum = {checksum} and earlier._batch_file = {file_name}"
            statements.append(f"""
                insert into {table} ({", ".join(name for name, _ in columns)}, _batch_file, _batch_checksum, _loaded_at)
                select {", ".join(f"staged.{name}" for name, _ in columns)},
                       {_unescape("m.file_name")}, m.checksum, current_timestamp()
                from (select {_select_unescaped("s", columns)} from {self._table(rows)} s) staged
                cross join {self._table(meta)} m
                where not exists (select 1 from {table} as earlier where earlier.{in_dates} and {key});
            """)
        if quarantine_rows:
            quarantine = self._stage_rows(staging, "quarantine", _QUARANTINE_COLUMNS, quarantine_rows)
            staged.append(quarantine)
            statements.append(f"""
                insert into {self._table("quarantined_rows")}
                select {_unescape("m.file_name")}, {_select_unescaped("q", _QUARANTINE_COLUMNS)},
                       current_timestamp(), m.checksum
                from {self._table(quarantine)} q cross join {self._table(meta)} m where not exists (
                    select 1 from {self._table("quarantined_rows")} where _batch_checksum = {checksum} and file_name = {file_name});
            """)
        ledger = f"""
            insert into {self._table("load_ledger")} ({", ".join(LOAD_LEDGER.column_names)})
            select {_unescape("file_name")}, checksum, current_timestamp(), rows_read, {loaded},
                   rows_read - {loaded} - rows_quarantined, rows_quarantined, status, {_unescape("error")},
                   {first_event_date}, '{contract.name}'
            from {self._table(meta)}
        """
        try:
            if statements:
                self._run("\n".join(statements))
            self._run(ledger)  # the commit point
        finally:
            for table in staged:
                self.client.delete_table(f"{self.project}.{self.dataset}.{table}", not_found_ok=True)
        row = self._ledger_row(report.file_name, report.checksum)
        return dataclasses.replace(report, rows_loaded=row["rows_loaded"], rows_duplicate=row["rows_duplicate"])


def _naive_utc(value):
    """BigQuery returns aware datetimes; the dashboard works in naive UTC, like DuckDB."""
    if isinstance(value, datetime) and value.tzinfo:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
