"""The DuckDB loader against the loading rules: at most once per file, dedupe, quarantine, reconciliation."""

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from attribution.generator import write_batch
from attribution.landing import load_pending
from attribution.raw_tables import EVENTS
from attribution.settings import Settings, load_settings
from attribution.warehouse import connect

HEADER = ",".join(EVENTS.column_names)
TS = 1_763_640_000_000_000  # 2025-11-20T12:00:00Z


def row(
    event_id: str,
    name: str = "page_view",
    ts: int = TS,
    user: str = "u1",
    session: str = "17636",
    source: str = "",
    transaction: str = "",
    revenue: str = "",
    user_id: str = "",
) -> str:
    return (
        f"{event_id},{ts},{name},{user},{session},{user_id},{source},,,{transaction},{revenue},https://x.test/,desktop,"
        "France"
    )


def land(settings: Settings, name: str, text: str | bytes) -> Path:
    settings.landing_path.mkdir(parents=True, exist_ok=True)
    path = settings.landing_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def load(settings: Settings) -> dict:
    return {r.file_name: r for r in load_pending(settings, connect(settings))}


def query(settings: Settings, sql: str) -> list[dict]:
    return connect(settings).query(sql)


def events(settings: Settings) -> int:
    return query(settings, "select count(*) as n from raw.streamed_events")[0]["n"]


def test_a_clean_batch_loads_whole_and_leaves_the_landing_dir(settings: Settings):
    path = write_batch(settings.landing_path, 1_000, seed=1, end=datetime(2026, 11, 20, tzinfo=UTC))
    report = load(settings)[path.name]
    assert (report.status, report.rows_read, report.rows_quarantined) == ("loaded", 1_000, 0)
    assert report.rows_loaded + report.rows_duplicate == 1_000  # the generator resends a few purchases
    assert report.reconciles
    assert not path.exists()
    assert (settings.archive_path / path.name).exists()
    ledger = query(settings, "select * from raw.load_ledger")
    assert len(ledger) == 1
    assert ledger[0]["rows_loaded"] == report.rows_loaded == events(settings)
    # The incremental models find the partitions the new events are in from it.
    [first] = query(settings, "select min(event_date) as day from raw.streamed_events")
    assert ledger[0]["first_event_date"] == first["day"] is not None


def test_a_ledger_from_before_first_event_date_gains_the_columns(settings: Settings):
    connect(settings).ensure_schema()
    with duckdb.connect(str(settings.warehouse_path)) as con:  # the ledger as a release before those columns left it
        con.execute("comment on table raw.load_ledger is null")  # its schema unmarked
        con.execute("alter table raw.load_ledger drop column first_event_date")
        con.execute("alter table raw.load_ledger drop column file_type")
        con.execute("insert into raw.load_ledger values ('old.csv', 'c0', now(), 1, 1, 0, 0, 'loaded', null)")
    land(settings, "new.csv", "\n".join([HEADER, row("a")]) + "\n")
    assert load(settings)["new.csv"].rows_loaded == 1  # ensure_schema ran again first
    ledger = query(settings, "select file_name, first_event_date, file_type from raw.load_ledger order by file_name")
    new_day = datetime.fromtimestamp(TS / 1e6, UTC).date()
    assert ledger == [
        {"file_name": "new.csv", "first_event_date": new_day, "file_type": "events"},
        {"file_name": "old.csv", "first_event_date": None, "file_type": None},
    ]


def test_the_same_file_again_is_a_no_op(settings: Settings):
    text = "\n".join([HEADER, row("a"), row("b")]) + "\n"
    land(settings, "batch.csv", text)
    assert load(settings)["batch.csv"].rows_loaded == 2
    land(settings, "batch.csv", text)
    again = load(settings)["batch.csv"]
    assert again.status == "already_loaded"
    assert events(settings) == 2
    assert len(query(settings, "select * from raw.load_ledger")) == 1
    assert len(list(settings.archive_path.iterdir())) == 2, "both copies kept in the archive"


def test_event_ids_dedupe_across_files_and_never_overwrite(settings: Settings):
    land(settings, "1.csv", "\n".join([HEADER, row("a"), row("b", source="google")]) + "\n")
    load(settings)
    land(settings, "2.csv", "\n".join([HEADER, row("b", source="bing"), row("c")]) + "\n")
    report = load(settings)["2.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_duplicate) == (2, 1, 1)
    assert query(settings, "select source from raw.streamed_events where event_id = 'b'") == [{"source": "google"}]


def test_duplicates_inside_a_file(settings: Settings):
    land(settings, "dups.csv", "\n".join([HEADER, row("a"), row("a"), row("a", source="other")]) + "\n")
    report = load(settings)["dups.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_duplicate, report.rows_quarantined) == (3, 1, 1, 1)
    [quarantined] = query(settings, "select line_number, reason from raw.quarantined_rows")
    assert quarantined == {"line_number": 4, "reason": "event_id repeats line 2 with different content"}


def test_bad_rows_are_quarantined_with_reason_and_line_the_rest_loads(settings: Settings):
    lines = [
        HEADER,
        row("ok1"),
        row("bad-ts", ts="17e14"),  # 3
        '"ok2",' + str(TS) + ',page_view,u1,17636,,google,"cpc, brand","multi\nline",,,,,',  # 4-5
        row("old", ts=1_000_000),  # 6
        row("", name="page_view"),  # 7
        row("nouser", user=""),  # 8
        row("nosession", session="abc"),  # 9
        row("p1", name="purchase", revenue="12.50"),  # 10
        row("p2", name="purchase", transaction="T2", revenue="-1"),  # 11
        row("p3", name="purchase", transaction="T3", revenue="twelve"),  # 12
        row("toomany") + ",extra",  # 13
        row("long", source="x" * 5000),  # 14
        row("ok3", name="purchase", transaction="T4", revenue="19.99"),  # 15
        row("longuser", user_id="c" * 5000),  # 16
    ]
    land(settings, "mixed.csv", "\n".join(lines) + "\n")
    report = load(settings)["mixed.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (14, 3, 11)
    assert report.reconciles
    reasons = {r["line_number"]: r["reason"] for r in query(settings, "select * from raw.quarantined_rows")}
    assert reasons == {
        3: "event_timestamp is not an integer count of microseconds: 17e14",
        6: "event_timestamp 1000000 is before 2000-01-01 (microseconds expected)",
        7: "missing event_id",
        8: "missing user_pseudo_id",
        9: "ga_session_id is not an integer: abc",
        10: "purchase without transaction_id",
        11: "purchase_revenue is negative: -1",
        12: "purchase_revenue is not a decimal number: twelve",
        13: "malformed CSV record: Expected Number of Columns: 14 Found: 15",
        14: "source longer than 4096 characters",
        16: "user_id longer than 4096 characters",
    }
    raw = query(settings, "select raw_record from raw.quarantined_rows where line_number = 13")[0]["raw_record"]
    assert raw == row("toomany") + ",extra"
    loaded = query(settings, "select event_id, medium, campaign from raw.streamed_events order by event_id")
    assert [r["event_id"] for r in loaded] == ["ok1", "ok2", "ok3"]
    assert loaded[1]["campaign"] == "multi\nline"


def test_line_numbers_count_a_quoted_newline_in_a_file_with_no_malformed_record(settings: Settings):
    # Every record well formed, one of them over two lines: the file's line breaks outnumber its
    # records, so a later record's line is counted, not taken from its position.
    lines = [
        HEADER,
        '"ok1",' + str(TS) + ',page_view,u1,17636,,google,cpc,"two\nlines",,,,,',  # 2-3
        row("ok2"),  # 4
        row("nouser", user=""),  # 5
    ]
    land(settings, "multiline.csv", "\n".join(lines) + "\n")
    report = load(settings)["multiline.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)
    assert query(settings, "select line_number, reason from raw.quarantined_rows") == [
        {"line_number": 5, "reason": "missing user_pseudo_id"}
    ]


def test_values_are_trimmed_of_unicode_spaces_as_of_ascii_ones(settings: Settings):
    lines = [HEADER, row("a", source=" google "), row("b", source="\u00a0bing\u3000"), row("c", source="\u00a0")]
    land(settings, "spaces.csv", "\n".join(lines) + "\n")
    assert load(settings)["spaces.csv"].rows_loaded == 3
    sources = query(settings, "select event_id, source from raw.streamed_events order by event_id")
    assert [r["source"] for r in sources] == ["google", "bing", None]


def test_future_timestamps_are_quarantined(settings: Settings):
    future = int(datetime.now(UTC).timestamp() * 1_000_000) + 2 * 86_400_000_000
    land(settings, "future.csv", "\n".join([HEADER, row("f", ts=future)]) + "\n")
    assert load(settings)["future.csv"].rows_quarantined == 1
    assert "more than a day in the future" in query(settings, "select reason from raw.quarantined_rows")[0]["reason"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file (0 bytes)"),
        (b"event_id,event_timestamp\na,1\n", "missing required column(s): event_name, user_pseudo_id, ga_session_id"),
        (HEADER.replace(",", ";").encode() + b"\n", "delimited by something other than a comma"),
        (HEADER.encode() + b"\n" + row("a").encode("latin-1") + b"\xe9\n", "not UTF-8: invalid byte 0xe9"),
    ],
    ids=["empty", "missing-column", "semicolons", "latin-1"],
)
def test_unreadable_files_are_rejected_whole_and_kept(settings: Settings, content: bytes, problem: str):
    land(settings, "bad.csv", content)
    report = load(settings)["bad.csv"]
    assert report.status == "rejected"
    assert problem in report.error
    assert report.rows_read == report.rows_loaded == 0
    assert (settings.rejected_path / "bad.csv").read_bytes() == content
    [quarantined] = query(settings, "select * from raw.quarantined_rows")
    assert quarantined["line_number"] is None and problem in quarantined["reason"]
    assert events(settings) == 0


def test_header_only_bom_and_unknown_columns(settings: Settings):
    land(settings, "a_header_only.csv", HEADER + "\n")
    land(settings, "b_bom.csv", "\ufeff" + HEADER + "\n" + row("bom") + "\n")
    land(settings, "c_extra.csv", "note," + HEADER + "\n" + "hello," + row("extra") + "\n")
    reports = load(settings)
    assert reports["a_header_only.csv"].rows_read == 0 and reports["a_header_only.csv"].status == "loaded"
    assert reports["b_bom.csv"].rows_loaded == 1
    assert reports["c_extra.csv"].rows_loaded == 1
    assert reports["c_extra.csv"].error == "ignored column(s) outside the contract: note"


def test_a_file_landing_under_the_same_name_with_new_content_loads(settings: Settings):
    land(settings, "same.csv", "\n".join([HEADER, row("a")]) + "\n")
    load(settings)
    land(settings, "same.csv", "\n".join([HEADER, row("b")]) + "\n")
    assert load(settings)["same.csv"].rows_loaded == 1
    assert events(settings) == 2


def test_partial_files_are_not_picked_up(settings: Settings, tmp_path: Path):
    land(settings, ".events.csv.partial", HEADER + "\n" + row("a") + "\n")
    shutil.copy(settings.landing_path / ".events.csv.partial", settings.landing_path / "notes.txt")
    assert load(settings) == {}


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ("trunc,1763640000000000,page_vi", "malformed CSV record"),  # the writer died mid-record
        ('"trunc,1763640000000000,page_view,u1,17636,"goo', "malformed CSV record"),  # inside a quote
    ],
    ids=["mid-record", "open-quote"],
)
def test_a_truncated_last_line_is_quarantined_and_the_rest_loads(settings: Settings, tail: str, reason: str):
    land(settings, "cut.csv", "\n".join([HEADER, row("a"), row("b"), tail]))  # no final newline
    report = load(settings)["cut.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1) and report.reconciles
    [quarantined] = query(settings, "select line_number, reason, raw_record from raw.quarantined_rows")
    assert quarantined["line_number"] == 4 and reason in quarantined["reason"]


def test_a_spreadsheet_formula_is_stored_as_text(settings: Settings):
    formula = '=HYPERLINK("http://evil.test","click")'
    land(settings, "formula.csv", "\n".join([HEADER, row("f", source='"' + formula.replace('"', '""') + '"')]) + "\n")
    assert load(settings)["formula.csv"].rows_loaded == 1
    assert query(settings, "select source from raw.streamed_events")[0]["source"] == formula


def _warehouse_contents(settings: Settings) -> dict:
    return {
        "events": query(settings, "select * exclude (_loaded_at) from raw.streamed_events order by event_id"),
        "ledger": query(
            settings,
            "select file_name, checksum, rows_read, rows_loaded, rows_duplicate, rows_quarantined, status"
            " from raw.load_ledger",
        ),
    }


def test_a_load_killed_mid_file_leaves_nothing_and_the_rerun_equals_one_clean_load(settings: Settings, tmp_path: Path):
    big = write_batch(tmp_path / "gen", 200_000, seed=3, end=datetime(2026, 11, 20, 12, tzinfo=UTC))
    settings.landing_path.mkdir(parents=True)
    shutil.copy(big, settings.landing_path)
    connect(settings).ensure_schema()
    env = {**os.environ, "ATTRIBUTION_DUCKDB_PATH": str(settings.warehouse_path),
           "ATTRIBUTION_LANDING_DIR": str(settings.landing_path)}  # fmt: skip
    loader = subprocess.Popen(
        [sys.executable, "-c", "from attribution.landing import load_pending; from attribution.settings import"
         " load_settings; from attribution.warehouse import connect; s = load_settings();"
         " load_pending(s, connect(s))"], env=env)  # fmt: skip
    files = (settings.warehouse_path, settings.warehouse_path.with_name(settings.warehouse_path.name + ".wal"))

    def written() -> int:
        return sum(f.stat().st_size for f in files if f.exists())

    empty = written()
    deadline = time.monotonic() + 60
    while written() < empty + 2_000_000 and loader.poll() is None:  # DuckDB writes row groups before commit
        assert time.monotonic() < deadline, "the load never started writing"
        time.sleep(0.01)
    loader.send_signal(signal.SIGKILL)  # mid-file: rows written, transaction not committed
    assert loader.wait() == -signal.SIGKILL, "the load finished before it could be killed: use a bigger file"
    assert events(settings) == 0 and query(settings, "select count(*) as n from raw.load_ledger")[0]["n"] == 0
    assert (settings.landing_path / big.name).exists(), "the file stays until its load commits"

    [report] = load(settings).values()
    assert report.rows_loaded == 200_000 and report.reconciles
    clean = load_settings({"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / "clean" / "w.duckdb"),
                           "ATTRIBUTION_LANDING_DIR": str(tmp_path / "clean" / "landing")})  # fmt: skip
    clean.landing_path.mkdir(parents=True)
    shutil.copy(big, clean.landing_path)
    load(clean)
    assert _warehouse_contents(settings) == _warehouse_contents(clean)


def test_quarantined_rows_are_exported_fixed_and_reprocessed(settings: Settings, tmp_path: Path):
    lines = [HEADER, row("ok1"), row("late", ts="17e14"), row("p", name="purchase", revenue="9.90"), row("ok2")]
    land(settings, "batch.csv", "\n".join(lines) + "\n")
    assert load(settings)["batch.csv"].rows_quarantined == 2
    fixed = tmp_path / "batch.quarantined.csv"
    env = {**os.environ, "ATTRIBUTION_DUCKDB_PATH": str(settings.warehouse_path),
           "ATTRIBUTION_LANDING_DIR": str(settings.landing_path)}  # fmt: skip
    export = subprocess.run(
        [sys.executable, "-m", "attribution.quarantine", "export", "batch.csv", "--out", str(fixed)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "line 3: event_timestamp is not an integer" in export.stdout
    bad_rows = [row("late", ts="17e14"), row("p", name="purchase", revenue="9.90")]
    assert fixed.read_text().splitlines() == [HEADER, *bad_rows], "the header and the records as they arrived"

    # The operator fixes one row and leaves the other wrong, then lands the file again.
    land(settings, "batch.requeued.csv", fixed.read_text().replace("17e14", str(TS)))
    report = load(settings)["batch.requeued.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 1, 1) and report.reconciles
    assert events(settings) == 3
    reasons = query(settings, "select reason from raw.quarantined_rows where file_name = 'batch.requeued.csv'")
    assert reasons == [{"reason": "purchase without transaction_id"}]


def test_user_id_is_an_optional_column(settings: Settings):
    """A logged-in user's id loads as sent; a file written without the column loads as before."""
    land(settings, "with.csv", "\n".join([HEADER, row("a", user_id="C-7"), row("b")]) + "\n")
    without = HEADER.replace(",user_id", "")
    land(settings, "without.csv", f"{without}\nc,{TS},page_view,u2,17636,,,,,,,,\n")
    reports = load(settings)
    assert [reports[name].rows_loaded for name in ("with.csv", "without.csv")] == [2, 1]
    assert reports["without.csv"].error is None, "no column is missing or unknown"
    loaded = query(settings, "select event_id, user_id from raw.streamed_events order by event_id")
    assert [(r["event_id"], r["user_id"]) for r in loaded] == [("a", "C-7"), ("b", None), ("c", None)]
