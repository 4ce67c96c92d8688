import csv
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attribution.generator import generate_events, write_batch
from attribution.raw_tables import EVENTS

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
END_MICROS = int(END.timestamp() * 1_000_000)


def test_events_follow_the_contract():
    events = list(generate_events(5_000, seed=7, end=END))
    assert len(events) == 5_000
    assert len({e["event_id"] for e in events}) == 5_000
    for e in events:
        assert set(e) == set(EVENTS.column_names)
        assert all(str(e[c]).strip() for c in EVENTS.required_columns)
        assert END_MICROS - 29 * 86_400_000_000 <= e["event_timestamp"] < END_MICROS
        if e["event_name"] == "purchase":
            assert e["transaction_id"]
            assert float(e["purchase_revenue"]) > 0


def test_journeys_are_realistic():
    events = list(generate_events(20_000, seed=3, end=END))
    sessions = defaultdict(set)
    for e in events:
        sessions[e["user_pseudo_id"]].add(e["ga_session_id"])
    buyers = {e["user_pseudo_id"] for e in events if e["event_name"] == "purchase"}
    mediums = {e["medium"] for e in events}
    multi_session = sum(1 for s in sessions.values() if len(s) > 1)
    assert multi_session / len(sessions) > 0.3
    assert 0.01 < len(buyers) / len(sessions) < 0.15
    assert {"", "organic", "cpc", "email", "referral", "paid_social"} <= mediums
    revenues = sorted(float(e["purchase_revenue"]) for e in events if e["event_name"] == "purchase")
    assert revenues[0] != revenues[-1]
    # the newest sessions start inside the batch window
    assert max(e["event_timestamp"] for e in events) >= END_MICROS - 5 * 60 * 1_000_000


def test_returning_users_come_back_across_batches():
    first = {e["user_pseudo_id"] for e in generate_events(5_000, seed=1, end=END)}
    later = {e["user_pseudo_id"] for e in generate_events(5_000, seed=2, end=END + timedelta(minutes=5))}
    assert first & later


def test_same_seed_same_bytes_other_seed_other_events(tmp_path: Path):
    a = write_batch(tmp_path / "a", 2_000, seed=42, end=END)
    b = write_batch(tmp_path / "b", 2_000, seed=42, end=END)
    c = write_batch(tmp_path / "c", 2_000, seed=43, end=END)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    with a.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2_000
    assert list(rows[0]) == list(EVENTS.column_names)
    assert not list((tmp_path / "a").glob(".*")), "no partial file left behind"


def test_cli_streams_large_batches_in_bounded_memory(tmp_path: Path):
    # 300 k events held in memory would take ~300 MB; streamed, the CLI stays near the interpreter's size.
    # Its peak is read from its own VmHWM in a clean process (ru_maxrss would inherit pytest's peak).
    probe = (
        "import re, sys; from attribution.generator import main; main(sys.argv[1:]); "
        "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "--events",
            "300000",
            "--seed",
            "5",
            "--out",
            str(tmp_path),
            "--end",
            "2026-11-20T12:00:00",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    path_line, peak_kib = result.stdout.split()
    path = Path(path_line)
    assert path.parent == tmp_path
    assert sum(1 for _ in path.open()) == 300_001
    assert int(peak_kib) < 120 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB: events are not streamed"


def test_no_two_events_share_user_time_and_name():
    # What identifies a GA4 export event (stg_ga4_events' event_id). Journeys are capped at 28 days: a
    # capped journey has fewer sessions, never two sessions at the same instant.
    identities = [
        (e["user_pseudo_id"], e["event_timestamp"], e["event_name"])
        for e in generate_events(150_000, seed=3, end=datetime(2026, 11, 20, tzinfo=UTC), window=timedelta(hours=1))
    ]
    assert len(identities) == len(set(identities))
