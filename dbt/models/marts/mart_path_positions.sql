-- Which channels open journeys, which assist and which close them (docs/paths.md): per conversion day
-- and channel group, the touchpoints of conversion paths in each of GA4's positions (path_position:
-- early, middle, late). The dashboard sums them over its dates.

with

touchpoints as (

    select * from {{ ref('int_touchpoints') }}

    where ga_session_id is not null

),

positioned as (

    select
        conversion_date,
        channel_group,
        {{ path_position('touchpoint_number', 'touchpoint_count') }} as path_position

    from touchpoints

),

positions as (

    select
        conversion_date,
        channel_group,
        sum(case when path_position = 'early' then 1 else 0 end) as early_touchpoints,
        sum(case when path_position = 'middle' then 1 else 0 end) as middle_touchpoints,
        sum(case when path_position = 'late' then 1 else 0 end) as late_touchpoints

    from positioned

    group by conversion_date, channel_group

)

select * from positions
