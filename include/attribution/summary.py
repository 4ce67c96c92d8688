"""What landed and what it is worth: the summary ``make demo`` prints, read from the serving snapshot."""

from __future__ import annotations

import sys

import duckdb

from attribution.settings import Settings, load_settings


def summary(settings: Settings) -> dict:
    """Loaded events, conversions, rows set aside and unattributed conversions, first- vs last-click
    conversions and revenue per channel, per paid channel its spend and ROAS under three models, what
    stitching devices changed (docs/identity.md) and the top paths. Figures only: no user id."""
    with duckdb.connect(str(settings.snapshot_path), read_only=True) as con:
        ledger = con.execute("""
            select count(*) as files, coalesce(sum(rows_loaded), 0) as loaded,
                   coalesce(sum(rows_duplicate), 0) as duplicates, coalesce(sum(rows_quarantined), 0) as quarantined
            from load_ledger where coalesce(file_type, 'events') = 'events'
        """).fetchone()
        cost_files = con.execute(
            "select count(*), coalesce(sum(rows_loaded), 0) from load_ledger where file_type = 'cost'"
        ).fetchone()
        # Per paid channel (spend > 0): spend and the ROAS of three models, over every day served.
        spend = con.execute("""
            select channel_group,
                   sum(spend) filter (attribution_model = 'first_click') as spend,
                   sum(revenue) filter (attribution_model = 'first_click') as first_revenue,
                   sum(revenue) filter (attribution_model = 'last_click') as last_revenue,
                   sum(revenue) filter (attribution_model = 'data_driven') as data_driven_revenue
            from mart_channel_performance
            group by channel_group
            having sum(spend) filter (attribution_model = 'first_click') > 0
            order by spend desc, channel_group
        """).fetchall()
        [unmatched] = con.execute("select coalesce(sum(spend), 0) from mart_unmatched_spend").fetchone()
        conversions, revenue = con.execute(
            "select count(*), coalesce(sum(revenue), 0) from mart_first_click"
        ).fetchone()
        unattributed, unattributed_revenue = con.execute(
            "select count(*), coalesce(sum(revenue), 0) from mart_first_click where channel_group = '(unattributed)'"
        ).fetchone()
        set_aside = con.execute("""
            select reason, sum(events), sum(conversions) from mart_set_aside_events
            group by reason order by sum(events) desc, reason
        """).fetchall()
        stitching = con.execute("""
            select count(*) filter (other_device_touchpoints > 0),
                   count(*) filter (first_channel_group <> device_first_channel_group)
            from mart_conversion_paths
        """).fetchone()
        top_paths = con.execute("""
            select path, conversions, revenue from mart_path_summary
            where conversions > 0 order by conversions desc, revenue desc, path limit 5
        """).fetchall()
        channels = con.execute("""
            select channel_group,
                   sum(conversions) filter (attribution_model = 'first_click') as first_conversions,
                   sum(revenue) filter (attribution_model = 'first_click') as first_revenue,
                   sum(conversions) filter (attribution_model = 'last_click') as last_conversions,
                   sum(revenue) filter (attribution_model = 'last_click') as last_revenue
            from mart_attribution_daily
            group by channel_group
            order by coalesce(first_revenue, 0) + coalesce(last_revenue, 0) desc, channel_group
        """).fetchall()
    return {
        "files": ledger[0],
        "events_loaded": ledger[1],
        "duplicates": ledger[2],
        "quarantined": ledger[3],
        "conversions": conversions,
        "revenue": float(revenue),
        "unattributed": unattributed,
        "unattributed_revenue": float(unattributed_revenue),
        "set_aside": [{"reason": r, "events": int(e), "conversions": int(c)} for r, e, c in set_aside],
        "stitched": stitching[0],
        "first_click_moved": stitching[1],
        "top_paths": [{"path": p, "conversions": c, "revenue": float(r)} for p, c, r in top_paths],
        "cost_files": cost_files[0],
        "cost_rows": cost_files[1],
        "unmatched_spend": float(unmatched),
        "spend": [
            {
                "channel_group": c,
                "spend": float(amount),
                "roas": {
                    model: float(revenue or 0) / float(amount)
                    for model, revenue in (("first_click", first), ("last_click", last), ("data_driven", driven))
                },
            }
            for c, amount, first, last, driven in spend
        ],
        "channels": [
            {
                "channel_group": c,
                "first_click_conversions": fc or 0,
                "first_click_revenue": fr or 0,
                "last_click_conversions": lc or 0,
                "last_click_revenue": lr or 0,
            }
            for c, fc, fr, lc, lr in channels
        ],
    }


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def print_summary(settings: Settings) -> None:
    if not settings.snapshot_path.exists():
        print("No serving snapshot yet: no run has published.")
        return
    s = summary(settings)
    print(
        f"Loaded {s['events_loaded']:,} events from {s['files']} file(s)"
        f" ({s['duplicates']:,} duplicates skipped, {s['quarantined']:,} rows quarantined)"
        f" and {s['cost_rows']:,} spend rows from {s['cost_files']} cost file(s)."
    )
    print(f"{s['conversions']:,} conversions worth ${s['revenue']:,.2f}.")
    set_aside = "; ".join(
        f"{r['reason']}: {_count(r['events'], 'event')} ({_count(r['conversions'], 'conversion')})"
        for r in s["set_aside"]
    )
    print(
        f"Set aside: {set_aside or 'none'}."
        f" Unattributed: {_count(s['unattributed'], 'conversion')} worth ${s['unattributed_revenue']:,.2f}.\n"
    )
    if settings.reporting_identity == "blended":
        print(
            f"Reporting identity blended: {_count(s['stitched'], 'conversion')} with touchpoints on another"
            f" device of the same user; {s['first_click_moved']:,} of them change first-click channel.\n"
        )
    print(f"{'channel':<22}{'first-click conv':>17}{'revenue':>12}{'last-click conv':>17}{'revenue':>12}")
    for row in s["channels"]:
        print(
            f"{row['channel_group']:<22}{row['first_click_conversions']:>17,.0f}{row['first_click_revenue']:>12,.2f}"
            f"{row['last_click_conversions']:>17,.0f}{row['last_click_revenue']:>12,.2f}"
        )
    if s["spend"]:
        total = sum(row["spend"] for row in s["spend"]) + s["unmatched_spend"]
        print(
            f"\nSpend ${total:,.2f}, of which ${s['unmatched_spend']:,.2f}"
            f" ({s['unmatched_spend'] / total:.1%}) matches no session.\n"
        )
        print(f"{'channel':<22}{'spend':>12}{'ROAS first click':>18}{'last click':>12}{'data-driven':>13}")
        for row in s["spend"]:
            roas = row["roas"]
            print(
                f"{row['channel_group']:<22}{row['spend']:>12,.2f}{roas['first_click']:>18.2f}"
                f"{roas['last_click']:>12.2f}{roas['data_driven']:>13.2f}"
            )
    if s["top_paths"]:
        print(f"\n{'top paths':<63}{'conversions':>12}{'revenue':>12}")
        for rank, row in enumerate(s["top_paths"], start=1):
            print(f"{rank:>2}. {row['path'][:59]:<59}{row['conversions']:>12,}{row['revenue']:>12,.2f}")


if __name__ == "__main__":
    print_summary(load_settings())
    sys.exit(0)
