-- Per path (docs/paths.md): the conversions that followed it and their revenue, the non-converting
-- journeys that followed the same path (int_channel_paths: a user's sessions after the last conversion,
-- within the lookback), and the conversion rate, conversions / (conversions + non-converting
-- journeys). Over the whole history, like the data-driven model that reads the same paths.

with

conversion_paths as (

    select * from {{ ref('mart_conversion_paths') }}

),

channel_paths as (

    select * from {{ ref('int_channel_paths') }}

),

non_converting_steps as (

    select
        path_id,
        transition_number,
        to_state as channel_group

    from channel_paths

    where not is_converting and to_state not in ('(conversion)', '(null)')

),

non_converting as (

    {{ channel_path('non_converting_steps', 'path_id', 'transition_number') }}

),

converting_totals as (

    select
        path,
        count(*) as conversions,
        sum(revenue) as revenue,
        avg(touchpoints) as average_touchpoints,
        avg(days_to_conversion) as average_days_to_conversion

    from conversion_paths

    group by path

),

non_converting_totals as (

    select
        path,
        count(*) as non_converting_journeys

    from non_converting

    group by path

),

summary as (

    select
        coalesce(converting_totals.path, non_converting_totals.path) as path,  -- noqa: RF04
        coalesce(converting_totals.conversions, 0) as conversions,
        coalesce(converting_totals.revenue, 0) as revenue,
        coalesce(non_converting_totals.non_converting_journeys, 0) as non_converting_journeys,
        coalesce(converting_totals.conversions, 0) * 1.0
        / (coalesce(converting_totals.conversions, 0) + coalesce(non_converting_totals.non_converting_journeys, 0))
            as conversion_rate,
        converting_totals.average_touchpoints,
        converting_totals.average_days_to_conversion

    from converting_totals

    full outer join non_converting_totals
        on converting_totals.path = non_converting_totals.path

)

select * from summary
