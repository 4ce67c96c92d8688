"""Row-level checks of a batch against the event contract, as set-based SQL in DuckDB.

Every warehouse uses them: the DuckDB warehouse runs them inside its own database, the BigQuery
warehouse in an in-process DuckDB before it stages the clean rows with a load job. Either way the
same rows get the same reasons.
"""

from __future__ import annotations

import time

import duckdb

from attribution.batch_file import BatchFile
from attribution.events import (
    COLUMN_NAMES,
    EARLIEST_TIMESTAMP_MICROS,
    FUTURE_TOLERANCE_MICROS,
    MAX_FIELD_LENGTH,
    PURCHASE_EVENT,
)


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_rows(con: duckdb.DuckDBPyConnection, batch: BatchFile) -> None:
    """Create temp table ``batch_checked``: one row per record of the file, in file order.

    Columns: ``line_number`` (physical line where the record starts), ``raw_record`` (the record as
    CSV text), the contract columns as trimmed text (empty = null), ``event_date`` (UTC date of a
    valid timestamp), ``outcome`` and ``reason``.
    ``outcome`` is ``new`` (the first valid occurrence of its event_id in the file; the warehouse
    decides whether it is new to it), ``duplicate`` (an exact repeat inside the file) or
    ``quarantine`` (``reason`` says why).
    """
    header = batch.header
    columns = "{" + ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in header) + "}"
    con.execute("drop table if exists batch_rows; drop table if exists batch_rejects; drop table if exists batch_scan")
    # Every field as text, in file order (rowid), so every value can be checked and quarantined
    # with its reason instead of failing the whole file; malformed records go to batch_rejects.
    con.execute(f"""
        create temp table batch_rows as
        select * from read_csv({sql_literal(str(batch.path))},
            header = true, auto_detect = false, columns = {columns},
            delim = ',', quote = '"', escape = '"',
            store_rejects = true, rejects_table = 'batch_rejects', rejects_scan = 'batch_scan')
    """)
    field = {c: (f"batch_rows.{sql_ident(c)}" if c in header else "null::varchar") for c in COLUMN_NAMES}
    text = {c: f"nullif(trim({field[c]}), '')" for c in COLUMN_NAMES}
    raw_record = " || ',' || ".join(
        f"""case when batch_rows.{sql_ident(c)} is null then ''
                 when regexp_matches(batch_rows.{sql_ident(c)}, '[",\\r\\n]')
                 then '"' || replace(batch_rows.{sql_ident(c)}, '"', '""') || '"'
                 else batch_rows.{sql_ident(c)} end"""
        for c in header
    )
    too_long = " ".join(
        # strlen (bytes, no scan) first: only a long value has its characters counted.
        f"when strlen({field[c]}) > {MAX_FIELD_LENGTH} and length({field[c]}) > {MAX_FIELD_LENGTH}"
        f" then '{c} longer than {MAX_FIELD_LENGTH} characters'"
        for c in COLUMN_NAMES
    )
    # Line numbers: without malformed records or newlines inside quoted fields (the usual file), a
    # record's line is its position plus the header; otherwise a running count over the whole file.
    irregular = con.execute(
        "select exists(from batch_rejects) or exists(from batch_rows where "
        + " or ".join(f"contains(batch_rows.{sql_ident(c)}, chr(10))" for c in header)
        + ")"
    ).fetchone()[0]
    newlines, line_number = "0", "2 + k"
    if irregular:
        newlines = " + ".join(
            f"coalesce(length(batch_rows.{sql_ident(c)}) - length(replace(batch_rows.{sql_ident(c)}, chr(10), '')), 0)"
            for c in header
        )
        line_number += (
            " + (select count(*) from rejects where good_rows_before <= k) + coalesce(sum(embedded_newlines)"
            " over (order by k rows between unbounded preceding and 1 preceding), 0)"
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
            select batch_rows.rowid - (select min(rowid) from batch_rows) as k, ({newlines}) as embedded_newlines,
                   {", ".join(f"{text[c]} as {c}" for c in COLUMN_NAMES)},
                   {"case " + too_long + " end" if too_long else "null"} as length_problem
            from batch_rows
        ),
        line_numbers as (  -- a narrow window: sorting every field with it costs seconds on big files
            select k,
                   {line_number} as line_number
            from positioned
        ),
        numbered as (
            select positioned.*, line_numbers.line_number from positioned join line_numbers using (k)
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
            select * from checked where reason is null
        ),
        repeated as (  -- event_ids on more than one valid row: only these are compared, by content
            select event_id from valid group by event_id having count(*) > 1
        ),
        repeats as (
            select valid.*,
                md5(concat_ws(chr(31), {", ".join(f"coalesce({c}, chr(30))" for c in COLUMN_NAMES)})) as content,
                row_number() over (partition by event_id order by line_number) as occurrence
            from valid semi join repeated using (event_id)
        ),
        first_seen as (
            select event_id, content as first_content, line_number as first_line from repeats where occurrence = 1
        )
        select
            v.k, v.line_number, null as raw_record, {", ".join(f"v.{c}" for c in COLUMN_NAMES)},
            make_timestamp(v.event_timestamp::bigint)::date as event_date, 'new' as outcome, null as reason
        from valid v anti join repeated using (event_id)
        union all
        select
            v.k, v.line_number, null as raw_record, {", ".join(f"v.{c}" for c in COLUMN_NAMES)},
            make_timestamp(v.event_timestamp::bigint)::date as event_date,
            case
                when v.occurrence > 1 and v.content <> f.first_content then 'quarantine'
                when v.occurrence > 1 then 'duplicate'
                else 'new'
            end as outcome,
            case when v.occurrence > 1 and v.content <> f.first_content
                then 'event_id repeats line ' || f.first_line || ' with different content' end as reason
        from repeats v join first_seen f using (event_id)
        union all
        select k, line_number, null, {", ".join(COLUMN_NAMES)}, null, 'quarantine', reason
        from checked where reason is not null
        union all
        select null, r.record_line + coalesce((
                   select sum(embedded_newlines) from positioned p where p.k < r.good_rows_before), 0),
               regexp_replace(r.csv_line, '\\r?\\n$', ''),
               {", ".join("null" for _ in COLUMN_NAMES)}, null, 'quarantine', 'malformed CSV record: ' || r.message
        from rejects r
    """)
    # The record as CSV text, for the quarantined rows only (building it for every row costs a
    # second per 200 k rows).
    con.execute(f"""
        update batch_checked set raw_record = quarantined.raw_record
        from (
            select rowid - (select min(rowid) from batch_rows) as k, {raw_record} as raw_record from batch_rows
            where rowid - (select min(rowid) from batch_rows)
                in (select k from batch_checked where outcome = 'quarantine' and k is not null)
        ) as quarantined
        where batch_checked.k = quarantined.k
    """)
    con.execute("alter table batch_checked drop column k")
    con.execute("drop table batch_rows; drop table batch_rejects; drop table batch_scan")
