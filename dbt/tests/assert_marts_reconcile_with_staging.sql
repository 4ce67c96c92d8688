-- Per attribution model, the marts' conversions and revenue (the data-driven removal effects' too)
-- equal the source's: the distinct conversions of the staged events (GA4 export rows with or without a
-- user or a session, and streamed events) and their revenue (a transaction's first occurrence).
-- Unattributable conversions count under (unattributed), so nothing is lost between staging and the
-- marts (docs/ga4.md). Returns each relation / model whose totals differ.
-- In the hourly data-quality DAG (var whole_table_tests), streamed events count once a build has seen
-- their load (at or before int_conversions' watermark): that DAG may run between a pipeline run's load
-- and its build (the writers' pool is free between tasks), and a batch not built yet is no loss. A
-- run's own build sees every load, so there the test reads every staged event.

with

staged_events as (

    select
        event_id,
        transaction_id,
        event_name,
        purchase_revenue,
        event_timestamp
    from {{ ref('stg_ga4_events') }}
    where not is_removed

    union all

    select
        event_id,
        transaction_id,
        event_name,
        purchase_revenue,
        event_timestamp
    from {{ ref('stg_streamed_events') }}
    {%- if var('whole_table_tests', false) %}
        where loaded_at <= (
            select max(built._events_loaded_at) from {{ ref('int_conversions') }} as built
        )
    {%- endif %}

),

occurrences as (

    select
        coalesce(purchase_revenue, 0) as revenue,
        row_number() over (
            partition by coalesce(transaction_id, event_id)
            order by event_timestamp, event_id
        ) as occurrence

    from staged_events

    where {{ is_conversion_event('event_name') }}

),

source_totals as (

    select
        count(*) as conversions,
        coalesce(sum(revenue), 0) as revenue

    from occurrences

    where occurrence = 1

),

mart_totals as (

    select
        'mart_attribution_daily' as relation,
        attribution_model,
        sum(conversions) as conversions,
        sum(revenue) as revenue
    from {{ ref('mart_attribution_daily') }}
    group by attribution_model

    union all

    select
        'mart_first_click' as relation,
        'first_click' as attribution_model,
        count(*) as conversions,
        coalesce(sum(revenue), 0) as revenue
    from {{ ref('mart_first_click') }}

    union all

    select
        'mart_last_click' as relation,
        'last_click' as attribution_model,
        count(*) as conversions,
        coalesce(sum(revenue), 0) as revenue
    from {{ ref('mart_last_click') }}

    union all

    select
        'mart_channel_removal_effects' as relation,
        'data_driven' as attribution_model,
        sum(conversions) as conversions,
        sum(revenue) as revenue
    from {{ ref('mart_channel_removal_effects') }}

),

compared as (

    select
        mart_totals.relation,
        mart_totals.attribution_model,
        mart_totals.conversions as mart_conversions,
        source_totals.conversions as source_conversions,
        mart_totals.revenue as mart_revenue,
        source_totals.revenue as source_revenue

    from mart_totals

    cross join source_totals

)

select * from compared

where
    abs(mart_conversions - source_conversions) > 1e-6
    or abs(mart_revenue - source_revenue) > 1e-6 * greatest(1, abs(source_revenue))
