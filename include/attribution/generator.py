"""Synthetic GA4 journeys, written as CSV batches per the event contract.

A *journey* is one user's sessions over up to four weeks, ending inside the batch window: earlier
sessions arrive late (as GA4 events do), so every batch exercises multi-touch attribution. Users
come back across batches (a returning pool shared by every seed), some buy more than once, and a
few purchases are sent twice under the same transaction_id, as GA4 tags do. Some users log in (the
site's ``user_id``), and some of those finish their journey on a second device: under the blended
reporting identity that journey is one person's again (docs/identity.md).

Deterministic: the same seed, end and size give the same events, byte for byte.

CLI: ``python -m attribution.generator --events 1000000 --out data/landing``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attribution.raw_tables import EVENTS

MICROS = 1_000_000
DAY_MICROS = 86_400 * MICROS

# (weight, source, medium, campaigns): the acquisition mix of a journey's first session.
CHANNEL_MIX: tuple[tuple[float, str, str, tuple[str, ...]], ...] = (
    (22, "", "", ("",)),  # direct
    (18, "google", "organic", ("",)),
    (3, "bing", "organic", ("",)),
    (12, "google", "cpc", ("brand_search", "generic_search", "shopping_feed")),
    (2, "bing", "cpc", ("generic_search",)),
    (6, "facebook", "cpc", ("spring_sale", "retargeting")),
    (3, "instagram", "paid_social", ("influencer_q2",)),
    (5, "facebook", "referral", ("",)),
    (2, "t.co", "referral", ("",)),
    (2, "linkedin.com", "referral", ("",)),
    (8, "newsletter", "email", ("weekly_digest", "winback")),
    (6, "blog.example.org", "referral", ("",)),
    (2, "partner-network", "affiliate", ("cashback",)),
    (2, "youtube.com", "referral", ("",)),
    (2, "google", "display", ("remarketing_banners",)),
)
# Returning sessions come more often through bookmarks (direct) and email.
RETURN_MIX: tuple[tuple[float, str, str, tuple[str, ...]], ...] = (
    (35, "", "", ("",)),
    (10, "newsletter", "email", ("weekly_digest", "winback")),
    *CHANNEL_MIX[1:],
)
SESSIONS_PER_JOURNEY = ((1, 45), (2, 25), (3, 14), (4, 8), (5, 5), (6, 3))
DEVICES = (("desktop", 55), ("mobile", 40), ("tablet", 5))
COUNTRIES = (
    ("United States", 40),
    ("United Kingdom", 10),
    ("Germany", 9),
    ("France", 7),
    ("Canada", 7),
    ("India", 8),
    ("Brazil", 5),
    ("Japan", 5),
    ("Australia", 4),
    ("Spain", 5),
)
PAGES = ("/", "/collections/new", "/products/hoodie", "/products/mug", "/products/cap", "/search", "/cart")
SITE = "https://shop.example.com"

RETURNING_SHARE = 0.3
"""Share of journeys by users from the shared returning pool (same ids across batches and seeds)."""
RETURNING_POOL = 5_000
MAX_JOURNEY_DAYS = 28
"""Journeys stay inside the default 30-day lookback."""
DUPLICATE_PURCHASE_RATE = 0.02
"""GA4 tags sometimes send a purchase twice; the second copy has its own event_id."""
LOGIN_SHARE = 0.3
"""Share of journeys whose user logs in: the events of the last session on each device carry a user_id."""
SECOND_DEVICE_SHARE = 0.4
"""Share of logged-in journeys of two or more sessions whose last session is on a second device (a
new user_pseudo_id, another device category), logged in as the same user: about 7 % of journeys."""


@dataclass(frozen=True)
class _Channel:
    source: str
    medium: str
    campaign: str


def _channel(rng: random.Random, mix) -> _Channel:
    _, source, medium, campaigns = rng.choices(mix, weights=[m[0] for m in mix])[0]
    return _Channel(source, medium, rng.choice(campaigns))


def _returning_user(index: int) -> str:
    # GA4 style "<random>.<first seen seconds>", stable for a pool index.
    first_seen = 1_690_000_000 + index * 1_733
    return f"{(index * 2_654_435_761) % 9_000_000_000 + 1_000_000_000}.{first_seen}"


class JourneyModel:
    """Draws journeys from one seeded random stream."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        # Logins and second devices draw from their own stream: the journeys are the same with them or not.
        self.identity_rng = random.Random(f"identity-{seed}")

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def journey(self, last_session_start: int) -> Iterator[dict]:
        """Events of one journey whose last session starts at ``last_session_start`` (micros)."""
        rng = self.rng
        customer = f"C{self.identity_rng.randrange(10**9):09d}"  # the site's customer key, if they log in
        if rng.random() < RETURNING_SHARE:
            index = rng.randrange(RETURNING_POOL)
            user, customer = _returning_user(index), f"R{index:09d}"
        else:
            first_seen = last_session_start // MICROS - rng.randrange(0, 86_400 * MAX_JOURNEY_DAYS)
            user = f"{rng.randrange(1_000_000_000, 9_999_999_999)}.{first_seen}"
        device = rng.choices([d for d, _ in DEVICES], weights=[w for _, w in DEVICES])[0]
        country = rng.choices([c for c, _ in COUNTRIES], weights=[w for _, w in COUNTRIES])[0]
        n_sessions = rng.choices([n for n, _ in SESSIONS_PER_JOURNEY], weights=[w for _, w in SESSIONS_PER_JOURNEY])[0]

        starts = [last_session_start]
        earliest = last_session_start - MAX_JOURNEY_DAYS * DAY_MICROS
        for _ in range(n_sessions - 1):
            previous = starts[-1] - int(rng.expovariate(1 / (2.5 * DAY_MICROS))) - 60 * MICROS
            if previous < earliest:  # the journey is MAX_JOURNEY_DAYS long at most: fewer sessions
                break
            starts.append(previous)
        starts.reverse()
        n_sessions = len(starts)

        converts = rng.random() < 0.02 + 0.015 * (n_sessions - 1)
        buys_early = converts and n_sessions >= 3 and rng.random() < 0.2
        devices = self._devices(user, device, n_sessions, starts[-1])
        for number, start in enumerate(starts):
            channel = _channel(rng, CHANNEL_MIX if number == 0 else RETURN_MIX)
            purchase = (converts and number == n_sessions - 1) or (buys_early and number == n_sessions // 2)
            session_user, session_device, logged_in = devices[number]
            user_id = customer if logged_in else ""
            yield from self._session(session_user, start, channel, purchase, session_device, country, user_id)

    def _devices(self, user: str, device: str, n_sessions: int, last_start: int) -> list[tuple[str, str, bool]]:
        """(user_pseudo_id, device category, logged in) of each session of a journey."""
        draw = self.identity_rng
        logs_in = draw.random() < LOGIN_SHARE
        second = logs_in and n_sessions >= 2 and draw.random() < SECOND_DEVICE_SHARE
        sessions = [(user, device, logs_in and number == n_sessions - 1) for number in range(n_sessions)]
        if second:
            other = draw.choice([d for d, _ in DEVICES if d != device])
            second_user = f"{draw.randrange(1_000_000_000, 9_999_999_999)}.{last_start // MICROS}"
            sessions[-2] = (user, device, True)  # the last session on the first device is logged in too
            sessions[-1] = (second_user, other, True)
        return sessions

    def _session(
        self, user: str, start: int, channel: _Channel, purchase: bool, device: str, country: str, user_id: str
    ):
        rng = self.rng
        session_id = start // MICROS  # GA4: the session's start in seconds
        names = ["session_start"] + ["page_view"] * (1 + min(int(rng.expovariate(0.5)), 8))
        if rng.random() < 0.5:
            names.append("view_item")
        if purchase or rng.random() < 0.25:
            names.append("add_to_cart")
            if purchase or rng.random() < 0.4:
                names.append("begin_checkout")
        if purchase:
            names.append("purchase")
        utm = f"?utm_source={channel.source}&utm_medium={channel.medium}" if channel.source else ""
        timestamp = start
        transaction_id = f"T{rng.getrandbits(48):012X}" if purchase else ""
        revenue = f"{math.exp(rng.gauss(4.0, 0.6)):.2f}" if purchase else ""
        for position, name in enumerate(names):
            landing = position < 2  # GA4 puts the campaign parameters on the landing events
            event = {
                "event_id": self._event_id(),
                "event_timestamp": timestamp,
                "event_name": name,
                "user_pseudo_id": user,
                "ga_session_id": session_id,
                "user_id": user_id,
                "source": channel.source if landing else "",
                "medium": channel.medium if landing else "",
                "campaign": channel.campaign if landing else "",
                "transaction_id": transaction_id if name == "purchase" else "",
                "purchase_revenue": revenue if name == "purchase" else "",
                "page_location": SITE
                + ("/checkout" if name in ("begin_checkout", "purchase") else rng.choice(PAGES))
                + (utm if landing else ""),
                "device_category": device,
                "country": country,
            }
            yield event
            if name == "purchase" and rng.random() < DUPLICATE_PURCHASE_RATE:
                yield event | {
                    "event_id": self._event_id(),
                    "event_timestamp": timestamp + rng.randrange(1, 3 * MICROS),
                }
            timestamp += MICROS + int(rng.expovariate(1 / (15 * MICROS)))


def generate_events(
    n_events: int, *, seed: int, end: datetime, window: timedelta = timedelta(minutes=5)
) -> Iterator[dict]:
    """Yield exactly ``n_events`` events of journeys whose last session starts in ``[end - window, end)``.

    Events are streamed journey by journey; nothing is built in memory.
    """
    model = JourneyModel(seed)
    end_micros = int(end.timestamp() * MICROS)
    window_micros = int(window.total_seconds() * MICROS)
    produced = 0
    while produced < n_events:
        # Sessions last a few minutes: start them early in the window so they end before `end`.
        start = end_micros - window_micros + int(model.rng.random() * window_micros * 0.2)
        for event in model.journey(start):
            if event["event_timestamp"] >= end_micros:
                break
            yield event
            produced += 1
            if produced == n_events:
                return


def batch_file_name(end: datetime, seed: int) -> str:
    return f"events_{end.astimezone(UTC):%Y%m%dT%H%M%S}_{seed}.csv"


def write_batch(
    directory: Path,
    n_events: int,
    *,
    seed: int,
    end: datetime,
    window: timedelta = timedelta(minutes=5),
    progress: bool = False,
    tap: Callable[[Iterable[dict]], Iterator[dict]] | None = None,
) -> Path:
    """Write one CSV batch into ``directory`` atomically (a reader never sees a half-written file);
    ``tap`` sees the events on their way (synthetic_spend counts the paid clicks)."""
    directory.mkdir(parents=True, exist_ok=True)
    events = generate_events(n_events, seed=seed, end=end, window=window)
    if tap:
        events = tap(events)
    if progress:
        from tqdm import tqdm

        events = tqdm(events, total=n_events, unit="ev", unit_scale=True, file=sys.stderr)
    return write_csv(directory / batch_file_name(end, seed), EVENTS.column_names, events)


def write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict]) -> Path:
    """Write ``rows`` as CSV to ``path`` atomically: a dot-file renamed into place, which a landing
    never lists as pending while it is being written."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attribution.generator", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="events to write (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("data/landing"), help="directory (default data/landing)")
    parser.add_argument("--end", type=datetime.fromisoformat, help="ISO time the batch ends (default now, UTC)")
    parser.add_argument("--window-minutes", type=float, default=5.0, help="span of the batch's newest sessions")
    args = parser.parse_args(argv)
    if args.events < 0:
        parser.error("--events must be >= 0")
    end = args.end or datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    path = write_batch(
        args.out, args.events, seed=args.seed, end=end, window=timedelta(minutes=args.window_minutes), progress=True
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
