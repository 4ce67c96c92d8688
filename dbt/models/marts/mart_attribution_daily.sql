-- Daily attributed conversions and revenue per model and channel: the dashboard's time series.
-- Conversions are summed credits, so a conversion split across channels counts fractionally.
-- provisional_conversions: those resting on intraday data (docs/ga4.md: today, from the streaming export).

with

credits as (

    select * from {{ ref('mart_attribution_credits') }}

),

daily as (

    select
        conversion_date,
        attribution_model,
        channel_group,
        source,
        medium,
        sum(credit) as conversions,
        sum(attributed_revenue) as revenue,
        -- Of those, the conversions resting on GA4's streaming export (intraday): they can still move.
        sum(case when is_provisional then credit else 0 end) as provisional_conversions

    from credits

    group by conversion_date, attribution_model, channel_group, source, medium

)

select * from daily
