"""Incremental by user always equals a full rebuild: batches run by run, each compared with --full-refresh.

The batches are adversarial: exact duplicates, late events that move a session's start and source,
a purchase resent earlier under its transaction_id, a transaction_id claimed earlier by another user,
a journey across midnight, and a late event that pushes a session out of the lookback window (its
touchpoint must disappear). The warehouse reports with the blended identity (docs/identity.md), the
stricter case: a device's user id arriving in a later batch, a late batch linking two devices, and a
device that changes user, each move whole journeys.
"""

import csv
import hashlib
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from attribution.dbt_cli import run_dbt
from attribution.generator import write_batch
from attribution.history import history_events, insert_events
from attribution.landing import load_pending
from attribution.raw_tables import EVENTS
from attribution.settings import Settings, load_settings
from attribution.warehouse import connect

pytestmark = pytest.mark.dbt

END = datetime(2026, 11, 20, 12, tzinfo=UTC)
MICROS = 1_000_000
DAY = 86_400 * MICROS
RELATIONS = (
    "int_sessions",
    "int_conversions",
    "int_device_identities",
    "int_touchpoints",
    "int_rule_based_credits",
    "int_channel_paths",
    "int_channel_states",
    "int_channel_transitions",
    "int_channel_removal_effects",
    "int_data_driven_credits",
    "mart_attribution_credits",
    "mart_channel_removal_effects",
    "mart_first_click",
    "mart_last_click",
    "mart_attribution_daily",
    "mart_conversion_paths",
    "mart_path_summary",
    "mart_path_positions",
)
WATERMARK = "_events_loaded_at"  # bookkeeping: when a row was last rebuilt, not what it says
# A full rebuild knows only the journeys devices are in now; incremental builds also keep those left.
WHERE = {"int_device_identities": "where is_current"}
IDENTITY = {"ATTRIBUTION_REPORTING_IDENTITY": "blended"}


def micros(when: datetime) -> int:
    return int(when.timestamp() * MICROS)


def build(settings: Settings, *args: str) -> None:
    env = {**os.environ, **IDENTITY, "ATTRIBUTION_DUCKDB_PATH": str(settings.warehouse_path)}
    assert run_dbt(["build", "--exclude", "resource_type:unit_test", *args], environ=env) == 0


def contents(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        result = {}
        for relation in RELATIONS:
            columns = [
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
                    [relation],
                ).fetchall()
                if name != WATERMARK
            ]
            rows = con.execute(f"select {', '.join(columns)} from {relation} {WHERE.get(relation, '')}").fetchall()
            result[relation] = sorted(
                (tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows), key=repr
            )
        return result


def assert_equals_full_refresh(settings: Settings, tmp_path: Path, run: int) -> dict[str, list[tuple]]:
    rebuilt = load_settings({"ATTRIBUTION_DUCKDB_PATH": str(tmp_path / f"full_{run}" / "w.duckdb")})
    rebuilt.warehouse_path.parent.mkdir()
    shutil.copy(settings.warehouse_path, rebuilt.warehouse_path)
    build(rebuilt, "--full-refresh")
    incremental, full = contents(settings.warehouse_path), contents(rebuilt.warehouse_path)
    for relation in RELATIONS:
        assert incremental[relation] == full[relation], f"run {run}: {relation} differs from a full rebuild"
    return incremental


def land(settings: Settings, name: str, events: list[dict]) -> None:
    settings.landing_path.mkdir(parents=True, exist_ok=True)
    with (settings.landing_path / name).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=EVENTS.column_names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(events)


def event(event_id: str, user: str, session: int, at: int, name: str = "page_view", **fields) -> dict:
    return dict.fromkeys(EVENTS.column_names, "") | {
        "event_id": event_id, "event_timestamp": at, "event_name": name, "user_pseudo_id": user,
        "ga_session_id": session, "device_category": "desktop", "country": "France",
    } | fields  # fmt: skip


def touchpoints(settings: Settings, conversion_id: str) -> list[tuple]:
    return query(
        settings,
        "select journey_key, session_user_pseudo_id, channel_group from int_touchpoints"
        f" where conversion_id = '{conversion_id}' order by touchpoint_number",
    )


def user_key(user_id: str) -> str:
    return hashlib.sha256(user_id.encode()).hexdigest()


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_incremental_runs_equal_a_full_rebuild_after_every_run(settings: Settings, tmp_path: Path):
    connect(settings).ensure_schema()
    with duckdb.connect(str(settings.warehouse_path)) as con:  # a day of GA4 history before the stream
        insert_events(con, "raw", history_events(1, 4_000, end=END - timedelta(hours=2)))

    # Run 1: a generated batch, plus a journey whose first session will later leave the lookback.
    write_batch(settings.landing_path, 3_000, seed=1, end=END)
    early = micros(END - timedelta(days=29, hours=23))
    land(settings, "edge.csv", [
        event("z1", "edge-user", early // MICROS, early, "session_start", source="google", medium="cpc"),
        event("z2", "edge-user", micros(END) // MICROS, micros(END), "session_start"),
        event("z3", "edge-user", micros(END) // MICROS, micros(END) + 1, "purchase", transaction_id="TZ",
              purchase_revenue="10"),
    ])  # fmt: skip
    # One person's devices, not linked yet: an email visit on the phone, a direct purchase on the
    # laptop; the tablet buys logged in as another customer.
    phone, laptop, tablet = (
        micros(END - timedelta(days=3)),
        micros(END - timedelta(days=1)),
        micros(END - timedelta(days=2)),
    )
    land(settings, "devices.csv", [
        event("p1", "phone", phone // MICROS, phone, "session_start", source="newsletter", medium="email"),
        event("l1", "laptop", laptop // MICROS, laptop, "session_start"),
        event("l2", "laptop", laptop // MICROS, laptop + MICROS, "purchase", transaction_id="TD",
              purchase_revenue="80"),
        event("t1", "tablet", tablet // MICROS, tablet, "session_start", source="google", medium="cpc",
              user_id="customer-9"),
        event("t2", "tablet", tablet // MICROS, tablet + MICROS, "purchase", transaction_id="TT",
              purchase_revenue="30", user_id="customer-9"),
        event("t4", "tablet", tablet // MICROS + 3_600, tablet + 3_600 * MICROS, "session_start", source="bing",
              medium="organic", user_id="customer-9"),
        # customer-9's desktop buys half an hour after the tablet's first visit
        event("d1", "desk", tablet // MICROS + 1_800, tablet + 1_800 * MICROS, "session_start"),
        event("d2", "desk", tablet // MICROS + 1_800, tablet + 1_801 * MICROS, "purchase", transaction_id="TT2",
              purchase_revenue="20", user_id="customer-9"),
    ])  # fmt: skip
    load_pending(settings, connect(settings))
    build(settings)
    first = assert_equals_full_refresh(settings, tmp_path, 1)
    edge = query(settings, "select touchpoint_count from int_touchpoints where conversion_id = 'TZ'")
    assert edge == [(2,), (2,)]
    assert touchpoints(settings, "TD") == [("laptop", "laptop", "Direct")]
    customer_9 = user_key("customer-9")
    assert touchpoints(settings, "TT2") == [(customer_9, "tablet", "Paid Search"), (customer_9, "desk", "Direct")]
    left_later = f"select count(*) from int_channel_paths where journey_key = '{customer_9}'"
    assert query(settings, left_later) == [(7,)]  # TT's and TT2's paths, and the tablet's visit after them

    # Run 2: adversarial events for users already in the warehouse.
    [(user, session, start, source)] = query(
        settings,
        """
        select user_pseudo_id, ga_session_id, touched_at_micros, source from int_touchpoints
        where touchpoint_count >= 2 and touchpoint_number = 1 and source <> 'newsletter' limit 1""",
    )
    [(tx_user, tx_session, tx, converted)] = query(
        settings,
        """
        select user_pseudo_id, ga_session_id, transaction_id, converted_at_micros from int_conversions
        where transaction_id is not null and user_pseudo_id <> 'edge-user' order by conversion_id limit 1""",
    )
    [(thief, thief_session)] = query(
        settings,
        f"""
        select user_pseudo_id, max(ga_session_id) from int_sessions where user_pseudo_id not in ('{user}', '{tx_user}')
        group by 1 order by 1 limit 1""",
    )
    midnight = micros(END.replace(hour=0)) - 30 * MICROS
    duplicates = query(settings, "select * exclude (event_date, _batch_file, _batch_checksum, _loaded_at)"
                                 " from raw.streamed_events using sample 20 rows")  # fmt: skip
    land(settings, "adversarial.csv", [
        *(dict(zip(EVENTS.column_names, row, strict=True)) for row in duplicates),
        # earlier than the session's first event, and sourced: new start, new source
        event("late-1", user, session, start - 600 * MICROS, source="newsletter", medium="email"),
        # the order resent an hour earlier: the conversion moves, and with it the lookback window
        event("resent-1", tx_user, tx_session, converted - 3_600 * MICROS, "purchase", transaction_id=tx,
              purchase_revenue="99"),
        # another user sent the same transaction_id even earlier: the conversion becomes theirs
        event("thief-1", thief, thief_session, converted - 7_200 * MICROS, "purchase", transaction_id=tx,
              purchase_revenue="99"),
        # a journey across midnight: one session, converting on the next day
        event("night-1", "night-user", midnight // MICROS, midnight, "session_start", source="bing", medium="cpc"),
        event("night-2", "night-user", midnight // MICROS, midnight + 60 * MICROS, "purchase",
              transaction_id="TN", purchase_revenue="5"),
        # the laptop's user id arrives a batch later: its journey becomes customer-7's
        event("l3", "laptop", laptop // MICROS, laptop + 2 * MICROS, "login", user_id="customer-7"),
    ])  # fmt: skip
    load_pending(settings, connect(settings))
    build(settings)
    second = assert_equals_full_refresh(settings, tmp_path, 2)
    assert second != first
    assert query(settings, f"select user_pseudo_id from int_conversions where conversion_id = '{tx}'") == [(thief,)]
    moved = query(settings, f"select session_start_micros, source from int_sessions"
                            f" where user_pseudo_id = '{user}' and ga_session_id = {session}")  # fmt: skip
    assert moved == [(start - 600 * MICROS, "newsletter")] != [(start, source)]
    assert query(settings, "select conversion_date from int_conversions where conversion_id = 'TN'") == [
        ((END.replace(hour=0) + timedelta(seconds=30)).date(),)
    ]
    assert touchpoints(settings, "TD") == [(user_key("customer-7"), "laptop", "Direct")]

    # Run 3: a late event that starts the edge user's first session 2 days earlier:
    # the session leaves the conversion's 30-day lookback and its touchpoint must disappear.
    # And a user sends an existing order's transaction_id later than its owner: the order stays theirs.
    [(owner, order, ordered)] = query(
        settings,
        f"""
        select user_pseudo_id, transaction_id, converted_at_micros from int_conversions
        where transaction_id is not null
            and user_pseudo_id not in ('edge-user', 'night-user', '{thief}', 'phone', 'laptop', 'tablet', 'desk')
        order by conversion_id desc
        limit 1""",
    )
    land(settings, "late.csv", [
        event("z0", "edge-user", early // MICROS, early - 2 * DAY),
        event("copycat-1", "night-user", midnight // MICROS, ordered + 60 * MICROS, "purchase",
              transaction_id=order, purchase_revenue="1"),
        # a late batch links the phone to the laptop: the email visit opens the laptop's purchase
        event("p2", "phone", phone // MICROS, phone + MICROS, "login", user_id="customer-7"),
        # the tablet logs in as customer-7 later: it leaves customer-9, whose desktop has no new event
        event("t3", "tablet", laptop // MICROS, laptop + 60 * MICROS, "session_start", user_id="customer-7"),
    ])  # fmt: skip
    load_pending(settings, connect(settings))
    build(settings)
    assert_equals_full_refresh(settings, tmp_path, 3)
    assert query(settings, "select touchpoint_count from int_touchpoints where conversion_id = 'TZ'") == [(1,)]
    assert query(settings, f"select user_pseudo_id from int_conversions where conversion_id = '{order}'") == [(owner,)]
    person = user_key("customer-7")
    assert touchpoints(settings, "TD") == [
        (person, "phone", "Email"), (person, "tablet", "Paid Search"), (person, "tablet", "Organic Search"),
        (person, "laptop", "Direct")
    ]  # fmt: skip
    assert touchpoints(settings, "TT2") == [(customer_9, "desk", "Direct")]
    assert query(settings, left_later) == [(2,)]  # TT2's path alone
    assert query(
        settings, "select count(*) from int_channel_paths where journey_key in ('phone', 'laptop', 'tablet')"
    ) == [(0,)]

    # Run 4: another generated batch; its returning users come back with new sessions. Its ledger row
    # lacks first_event_date, as rows written before that column do: the new events are found anyway.
    batch = write_batch(settings.landing_path, 2_000, seed=2, end=END + timedelta(minutes=5))
    load_pending(settings, connect(settings))
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("update raw.load_ledger set first_event_date = null where file_name = ?", [batch.name])
    build(settings)
    assert_equals_full_refresh(settings, tmp_path, 4)

    # Run 5: nothing new: nothing changes.
    before = contents(settings.warehouse_path)
    build(settings)
    assert assert_equals_full_refresh(settings, tmp_path, 5) == before
