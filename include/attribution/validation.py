"""Row-level checks of a landed file against its contract (``raw_tables.FileContract``), as set-based
SQL in DuckDB.

Every warehouse uses them: the DuckDB warehouse runs them inside its own database, the BigQuery
warehouse in an in-process DuckDB before it stages the clean rows with a load job. Either way the
same rows get the same reasons.
"""

from __future__ import annotations

import time

import duckdb

from attribution.batch_file import BatchFile
from attribution.raw_tables import (
    DATE_PATTERN,
    DECIMAL_PATTERN,
    INTEGER_PATTERN,
    MAX_FIELD_LENGTH,
    Column,
    FileContract,
)


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _type_check(column: Column, value: str) -> str | None:
    """SQL condition that ``value`` (trimmed text, not null) is not of the column's type."""
    if column.type == "int64":
        return f"not regexp_matches({value}, '{INTEGER_PATTERN}') or try_cast({value} as bigint) is null"
    if column.type == "decimal":
        return f"not regexp_matches({value}, '{DECIMAL_PATTERN}')"
    if column.type == "date":
        return f"not regexp_matches({value}, '{DATE_PATTERN}') or try_strptime({value}, '%Y-%m-%d') is null"
    return None


_TYPE_NAMES = {"int64": "an integer", "decimal": "a decimal number", "date": "a date (YYYY-MM-DD)"}


def _trimmed(value: str) -> str:
    """``value`` trimmed, empty as null. DuckDB's trim removes Unicode space separators; in ASCII text
    only the space, so most values are kept as they are without building a trimmed copy."""
    needs_trim = f"starts_with({value}, ' ') or ends_with({value}, ' ') or strlen({value}) <> length({value})"
    return f"nullif(case when {needs_trim} then trim({value}) else {value} end, '')"


def _column_checks(column: Column, params: dict[str, str]) -> list[str]:
    """The ``when`` branches of one column, in order: missing, wrong type, its own checks."""
    value = column.name
    branches = []
    if column.required:
        branches.append(f"when {value} is null then 'missing {value}'")
    present = "" if column.required else f"{value} is not null and "
    if (wrong_type := _type_check(column, value)) is not None:
        expected = column.type_name or _TYPE_NAMES[column.type]
        branches.append(f"when {present}({wrong_type}) then '{column.name} is not {expected}: ' || left({value}, 40)")
    for condition, reason in column.checks:
        branches.append(
            f"when {present}({condition.format(value=value, **params)}) then {reason.format(value=value, **params)}"
        )
    return branches


def check_rows(con: duckdb.DuckDBPyConnection, batch: BatchFile, params: dict[str, str] | None = None) -> None:
    """Create temp table ``batch_checked``: one row per record of the file, in file order.

    Columns: ``line_number`` (physical line where the record starts), ``raw_record`` (the record as
    CSV text), the contract's columns as trimmed text (empty = null), ``partition_date`` (the date of
    the table's partition, for a valid row), ``outcome`` and ``reason``.
    ``outcome`` is ``new`` (the first valid occurrence of its key in the file; the warehouse decides
    whether it is new to it), ``duplicate`` (an exact repeat inside the file) or ``quarantine``
    (``reason`` says why). ``params`` are the load's values the checks use (``reporting_currency``).
    """
    contract, header = batch.contract, batch.header
    names = contract.column_names
    params = {name: sql_literal(value) for name, value in (params or {}).items()}
    params["now_micros"] = str(int(time.time() * 1_000_000))
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
    field = {c: (f"batch_rows.{sql_ident(c)}" if c in header else "null::varchar") for c in names}
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
        for c in names
    )
    checks = [branch for column in contract.columns for branch in _column_checks(column, params)]
    checks += [f"when {condition} then {reason}" for condition, reason in contract.row_checks]
    # Line numbers are physical lines in the file. In the usual file (every record one line: no malformed
    # record, no newline inside a quoted field, no blank line) a record's line is its position plus the
    # header. Otherwise DuckDB numbers records, so the newlines inside quoted fields and the malformed
    # records (which DuckDB reports by record, kept once in batch_rejected_records) before each row are
    # counted, by a window over a narrow projection: sorting every field with it costs seconds on big files.
    records, rejected = con.execute("select (select count(*) from batch_rows), exists(from batch_rejects)").fetchone()
    irregular = rejected or batch.line_breaks not in (records, records + 1)
    newlines = "0"
    numbered = "select positioned.*, 2 + k as line_number from positioned"
    if irregular:
        con.execute("""
            create or replace temp table batch_rejected_records as
            select line as record_line, string_agg(distinct error_message, '; ') as message,
                   any_value(csv_line) as csv_line,
                   line - 2 - (row_number() over (order by line) - 1) as good_rows_before
            from batch_rejects group by line
        """)
        newlines = " + ".join(
            f"coalesce(length(batch_rows.{sql_ident(c)}) - length(replace(batch_rows.{sql_ident(c)}, chr(10), '')), 0)"
            for c in header
        )
        line_number = (
            "2 + k + (select count(*) from batch_rejected_records where good_rows_before <= k)"
            " + coalesce(sum(embedded_newlines) over (order by k rows between unbounded preceding and 1 preceding), 0)"
        )
        numbered = f"""select positioned.*, line_numbers.line_number from positioned
                       join (select k, {line_number} as line_number from positioned) as line_numbers using (k)"""
    key = ", ".join(contract.key)
    text_columns = ", ".join(names)
    con.execute("drop table if exists batch_validated")
    con.execute(f"""
        create temp table batch_validated as
        with positioned as (
            select batch_rows.rowid - (select min(rowid) from batch_rows) as k, ({newlines}) as embedded_newlines,
                   {", ".join(f"{_trimmed(field[c])} as {c}" for c in names)},
                   {"case " + too_long + " end" if too_long else "null"} as length_problem
            from batch_rows
        ),
        numbered as ({numbered}),
        checked as (
            select * exclude (length_problem), case {" ".join(checks)} else length_problem end as reason
            from numbered
        )
        select k, line_number, null::varchar as raw_record, {text_columns},
               case when reason is null then {contract.date_sql} end as partition_date,
               case when reason is null then 'new' else 'quarantine' end as outcome, reason
               {", embedded_newlines" if irregular else ""}
        from checked
    """)
    # Keys on more than one valid row are compared by content; the usual file has none, and no
    # malformed record: those parts of the result are built only for a file that has them.
    repeated_keys = con.execute(
        f"select exists(select 1 from batch_validated where reason is null group by {key} having count(*) > 1)"
    ).fetchone()[0]
    if repeated_keys or irregular:
        _resolve_repeats_and_malformed_records(con, contract, repeated_keys, irregular)
    else:  # the usual file: every row is new or quarantined as checked
        con.execute("alter table batch_validated rename to batch_checked")
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


def _resolve_repeats_and_malformed_records(
    con: duckdb.DuckDBPyConnection, contract: FileContract, repeated_keys: bool, irregular: bool
) -> None:
    """``batch_checked`` from ``batch_validated`` for a file with keys on several valid rows (compared
    by content: an exact repeat is a duplicate, another content is quarantined) or malformed records
    (quarantined, with DuckDB's reason)."""
    names = contract.column_names
    columns = ", ".join(names)
    key = ", ".join(contract.key)
    key_names = " / ".join(contract.key)
    repeats_verb = "repeats" if len(contract.key) == 1 else "repeat"
    shape = f"k, line_number, raw_record, {columns}, partition_date, outcome, reason"
    valid = "(select * from batch_validated where reason is null)"
    parts = [f"select {shape} from batch_validated where reason is not null"]
    ctes = []
    if repeated_keys:
        ctes.append(f"""repeated as (
            select {key} from {valid} as v group by {key} having count(*) > 1
        ),
        repeats as (
            select v.*,
                md5(concat_ws(chr(31), {", ".join(f"coalesce({c}, chr(30))" for c in names)})) as content,
                row_number() over (partition by {key} order by line_number) as occurrence
            from {valid} as v semi join repeated using ({key})
        ),
        first_seen as (
            select {key}, content as first_content, line_number as first_line from repeats where occurrence = 1
        )""")
        parts.append(f"select {shape} from {valid} as v anti join repeated using ({key})")
        parts.append(f"""
            select v.k, v.line_number, v.raw_record, {", ".join(f"v.{c}" for c in names)}, v.partition_date,
                   case
                       when v.occurrence > 1 and v.content <> f.first_content then 'quarantine'
                       when v.occurrence > 1 then 'duplicate'
                       else 'new'
                   end,
                   case when v.occurrence > 1 and v.content <> f.first_content
                       then '{key_names} {repeats_verb} line ' || f.first_line || ' with different content' end
            from repeats v join first_seen f using ({key})""")
    else:
        parts.append(f"select {shape} from {valid}")
    if irregular:
        parts.append(f"""
            select null, r.record_line + coalesce((
                       select sum(embedded_newlines) from batch_validated p where p.k < r.good_rows_before), 0),
                   regexp_replace(r.csv_line, '\\r?\\n$', ''),
                   {", ".join("null" for _ in names)}, null, 'quarantine', 'malformed CSV record: ' || r.message
            from batch_rejected_records r""")
    con.execute(f"""
        create temp table batch_checked as
        {"with " + ", ".join(ctes) if ctes else ""}
        {" union all ".join(parts)}
    """)
    con.execute("drop table batch_validated")
    if irregular:
        con.execute("drop table batch_rejected_records")


def typed_columns(contract: FileContract, prefix: str = "") -> list[tuple[str, str]]:
    """(table column, DuckDB expression over ``batch_checked``) for the contract's columns and its date;
    ``prefix`` qualifies the names (``batch_checked.``)."""
    typed = {
        c.name: f"{prefix}{c.name}" if c.type == "string" else f"{prefix}{c.name}::{c.sql_type('duckdb')}"
        for c in contract.columns
    }
    # The date column a file lacks is filled from the checked row's partition_date.
    return [(name, typed.get(name, f"{prefix}partition_date")) for name in contract.loaded_columns]


def mark_existing(con: duckdb.DuckDBPyConnection, contract: FileContract, existing: str) -> str | None:
    """Mark the ``new`` rows of ``batch_checked`` that the table's rows (``existing``: the table, or the
    part of it the file's dates can meet) make duplicates, per ``contract.existing_key``; returns the
    ledger's note on what the file replaces, if anything."""
    typed = dict(typed_columns(contract, "batch_checked."))
    key = " and ".join(f"earlier.{c} = {typed[c]}" for c in contract.key)
    if contract.existing_key == "keep":
        con.execute(f"""
            update batch_checked set outcome = 'duplicate'
            where outcome = 'new' and exists (select 1 from {existing} as earlier where {key})
        """)
        return None
    # replace: the figures each key has now are those of the row loaded last.
    current = f"""(
        select * from {existing}
        qualify row_number() over (partition by {", ".join(contract.key)} order by _loaded_at desc, _batch_file desc) = 1
    )"""
    same = " and ".join(f"earlier.{c} is not distinct from {typed[c]}" for c in contract.figures)
    con.execute(f"""
        update batch_checked set outcome = 'duplicate'
        where outcome = 'new' and exists (select 1 from {current} as earlier where {key} and {same})
    """)
    replaced, files = con.execute(f"""
        select count(*), string_agg(distinct earlier._batch_file, ', ' order by earlier._batch_file)
        from batch_checked join {current} as earlier on {key}
        where outcome = 'new'
    """).fetchone()
    return f"replaces the figures of {replaced} row(s) loaded from {files}" if replaced else None
