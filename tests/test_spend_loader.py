"""Cost files (docs/spend.md) through the DuckDB loader: the cost contract's bad inputs, at most once per
file, a later file's figures replacing an earlier one's, and the ledger saying which are current."""

from pathlib import Path

import pytest

from attribution.landing import load_pending
from attribution.quarantine import export
from attribution.raw_tables import COST
from attribution.settings import Settings
from attribution.warehouse import connect

HEADER = ",".join(COST.column_names)


def land(settings: Settings, name: str, *rows: str, header: str = HEADER) -> Path:
    directory = settings.landing_path / "cost"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def load(settings: Settings) -> dict:
    return {r.file_name: r for r in load_pending(settings, connect(settings))}


def spend(settings: Settings) -> list[dict]:
    """The figures each key has now: the row loaded last (what stg_ad_spend reads)."""
    return connect(settings).query("""
        select date::varchar as date, utm_source, utm_medium, utm_campaign, utm_id, cost::double as cost, clicks,
               impressions, _batch_file
        from raw.ad_spend
        qualify row_number() over (
            partition by date, utm_source, utm_medium, utm_campaign order by _loaded_at desc, _batch_file desc) = 1
        order by date, utm_source, utm_campaign
    """)


def quarantined(settings: Settings, name: str) -> list[tuple[int, str]]:
    rows = connect(settings).query(
        "select line_number, reason from raw.quarantined_rows where file_name = ? order by line_number", [name]
    )
    return [(r["line_number"], r["reason"]) for r in rows]


def test_a_cost_file_loads_from_its_own_directory_and_is_archived(settings: Settings):
    path = land(
        settings, "spend-2026-11-20.csv",
        "2026-11-20,google,cpc,brand,123,41.50,83,1200,USD",
        "2026-11-20,newsletter,email,weekly,,0,,,usd",
    )  # fmt: skip
    report = load(settings)["cost/spend-2026-11-20.csv"]
    assert (report.status, report.rows_read, report.rows_loaded, report.rows_quarantined) == ("loaded", 2, 2, 0)
    assert not path.exists()
    assert (settings.archive_path / "cost" / path.name).exists()
    assert not (settings.archive_path / path.name).exists()  # not among the event batches
    assert [(r["utm_source"], r["cost"], r["clicks"], r["utm_id"]) for r in spend(settings)] == [
        ("google", 41.5, 83, "123"),
        ("newsletter", 0.0, None, None),
    ]
    [ledger] = connect(settings).query("select file_name, file_type, first_event_date from raw.load_ledger")
    assert ledger == {"file_name": "cost/spend-2026-11-20.csv", "file_type": "cost", "first_event_date": None}
    assert connect(settings).query("select count(*) as n from raw.streamed_events") == [{"n": 0}]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (",google,cpc,brand,,1,,,USD", "missing date"),
        ("2026-13-01,google,cpc,brand,,1,,,USD", "date is not a date (YYYY-MM-DD): 2026-13-01"),
        ("20/11/2026,google,cpc,brand,,1,,,USD", "date is not a date (YYYY-MM-DD): 20/11/2026"),
        ("2026-11-20,,cpc,brand,,1,,,USD", "missing utm_source"),
        ("2026-11-20,google,,brand,,1,,,USD", "missing utm_medium"),
        ("2026-11-20,google,cpc,,,1,,,USD", "missing utm_campaign"),
        ("2026-11-20,google,cpc,brand,,,,,USD", "missing cost"),
        ("2026-11-20,google,cpc,brand,,-3.20,,,USD", "cost is negative: -3.20"),
        ("2026-11-20,google,cpc,brand,,12 EUR,,,USD", "cost is not a decimal number: 12 EUR"),
        ('2026-11-20,google,cpc,brand,,"1,200.00",,,USD', "cost is not a decimal number: 1,200.00"),
        ("2026-11-20,google,cpc,brand,,1,many,,USD", "clicks is not an integer: many"),
        ("2026-11-20,google,cpc,brand,,1,-1,,USD", "clicks is negative: -1"),
        ("2026-11-20,google,cpc,brand,,1,,1.5,USD", "impressions is not an integer: 1.5"),
        ("2026-11-20,google,cpc,brand,,1,,,", "missing currency"),
        ("2026-11-20,google,cpc,brand,,1,,,EUR", "currency EUR is not the reporting currency USD"),
    ],
)
def test_a_bad_row_is_quarantined_with_its_reason_and_the_rest_loads(settings: Settings, line: str, reason: str):
    land(settings, "spend.csv", "2026-11-19,google,cpc,brand,,10,,,USD", line)
    report = load(settings)["cost/spend.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 1, 1)
    assert report.reconciles
    assert quarantined(settings, "cost/spend.csv") == [(3, reason)]


def test_a_file_without_a_required_column_is_rejected_whole_and_kept(settings: Settings):
    path = land(
        settings, "spend.csv", "2026-11-20,google,cpc,10,USD", header="date,utm_source,utm_medium,cost,currency"
    )
    report = load(settings)["cost/spend.csv"]
    assert report.status == "rejected"
    assert report.error.startswith("missing required column(s): utm_campaign;")
    assert (settings.rejected_path / "cost" / path.name).exists()
    assert spend(settings) == []


def test_an_empty_file_is_rejected(settings: Settings):
    directory = settings.landing_path / "cost"
    directory.mkdir(parents=True)
    (directory / "empty.csv").write_bytes(b"")
    report = load(settings)["cost/empty.csv"]
    assert (report.status, report.error) == ("rejected", "empty file (0 bytes)")


def test_optional_columns_may_be_left_out_and_unknown_ones_are_named(settings: Settings):
    land(
        settings,
        "spend.csv",
        "2026-11-20,google,cpc,brand,5,USD,x",
        header="date,utm_source,utm_medium,utm_campaign,cost,currency,notes",
    )
    report = load(settings)["cost/spend.csv"]
    assert (report.rows_loaded, report.error) == (1, "ignored column(s) outside the contract: notes")
    assert [(r["cost"], r["clicks"], r["impressions"]) for r in spend(settings)] == [(5.0, None, None)]


def test_a_key_twice_in_one_file(settings: Settings):
    land(
        settings, "spend.csv",
        "2026-11-20,google,cpc,brand,,10,5,,USD",
        "2026-11-20,google,cpc,brand,,10,5,,USD",  # the same row again: a duplicate
        "2026-11-20,google,cpc,brand,,12,5,,USD",  # other figures for the same key: which is right is unknown
    )  # fmt: skip
    report = load(settings)["cost/spend.csv"]
    assert (report.rows_read, report.rows_loaded, report.rows_duplicate, report.rows_quarantined) == (3, 1, 1, 1)
    assert quarantined(settings, "cost/spend.csv") == [
        (4, "date / utm_source / utm_medium / utm_campaign repeat line 2 with different content")
    ]
    assert [r["cost"] for r in spend(settings)] == [10.0]


def test_the_same_file_again_changes_nothing(settings: Settings):
    rows = ("2026-11-20,google,cpc,brand,,10,5,,USD",)
    land(settings, "spend.csv", *rows)
    first = load(settings)["cost/spend.csv"]
    land(settings, "spend.csv", *rows)
    again = load(settings)["cost/spend.csv"]
    assert (again.status, again.rows_loaded) == ("already_loaded", first.rows_loaded)
    land(settings, "spend-resent.csv", *rows)  # the same figures under another name: duplicates
    resent = load(settings)["cost/spend-resent.csv"]
    assert (resent.rows_loaded, resent.rows_duplicate, resent.error) == (0, 1, None)
    assert [r["_batch_file"] for r in spend(settings)] == ["cost/spend.csv"]
    assert connect(settings).query("select count(*) as n from raw.ad_spend") == [{"n": 1}]


def test_a_later_file_replaces_the_figures_of_its_keys_and_the_ledger_says_so(settings: Settings):
    land(
        settings, "a.csv",
        "2026-11-19,google,cpc,brand,,10,5,,USD",
        "2026-11-20,google,cpc,brand,,20,9,,USD",
        "2026-11-20,meta,paid_social,retargeting,,7,3,,USD",
    )  # fmt: skip
    load(settings)
    land(
        settings, "b.csv",
        "2026-11-20,google,cpc,brand,,22.5,10,,USD",  # restated
        "2026-11-20,meta,paid_social,retargeting,,7,3,,USD",  # unchanged: a duplicate
        "2026-11-21,google,cpc,brand,,30,12,,USD",  # a new day
    )  # fmt: skip
    report = load(settings)["cost/b.csv"]
    assert (report.rows_loaded, report.rows_duplicate) == (2, 1)
    assert report.error == "replaces the figures of 1 row(s) loaded from cost/a.csv"
    assert [(r["date"], r["utm_source"], r["cost"], r["_batch_file"]) for r in spend(settings)] == [
        ("2026-11-19", "google", 10.0, "cost/a.csv"),
        ("2026-11-20", "google", 22.5, "cost/b.csv"),
        ("2026-11-20", "meta", 7.0, "cost/a.csv"),
        ("2026-11-21", "google", 30.0, "cost/b.csv"),
    ]
    # Back to the first figures: a third file replaces the second's.
    land(settings, "c.csv", "2026-11-20,google,cpc,brand,,20,9,,USD")
    assert load(settings)["cost/c.csv"].error == "replaces the figures of 1 row(s) loaded from cost/b.csv"
    assert [r["cost"] for r in spend(settings) if r["date"] == "2026-11-20" and r["utm_source"] == "google"] == [20.0]


def test_quarantined_cost_rows_export_for_fixing(settings: Settings, tmp_path: Path):
    land(settings, "spend.csv", "2026-11-20,google,cpc,brand,,10,,,USD", "2026-11-20,meta,cpc,x,,ten,,,USD")
    load(settings)
    out = tmp_path / "fixed.csv"
    records = export(settings, "cost/spend.csv", out)
    assert [r["reason"] for r in records] == ["cost is not a decimal number: ten"]
    assert out.read_text().splitlines() == [HEADER, "2026-11-20,meta,cpc,x,,ten,,,USD"]
