-- Daily attributed conversions and revenue per model and channel: the dashboard's time series.
-- Conversions are summed credits, so a conversion split across channels counts fractionally.

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
        sum(attributed_revenue) as revenue

    from credits

    group by conversion_date, attribution_model, channel_group, source, medium

)

select * from daily
