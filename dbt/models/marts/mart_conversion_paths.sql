-- Each conversion's path (docs/paths.md): the channel groups of its touchpoints in order (int_touchpoints:
-- the user's sessions in the lookback, var lookback_days, the converting session included), joined by
-- ' > '; with var path_collapse_repeats, consecutive repeats of a channel count once in the path (the
-- touchpoint count stays every session's). Touchpoints, days from the first touch to the conversion,
-- the revenue; the touchpoints on another device of the converting user (the blended identity's
-- stitching: docs/identity.md), and the first click the device identity would give. A conversion
-- without a session to credit has the path '(unattributed)', no touchpoint.

with

touchpoint_rows as (

    select * from {{ ref('int_touchpoints') }}

),

steps as (

    select * from touchpoint_rows

    where ga_session_id is not null

),

paths as (

    {{ channel_path('steps', 'conversion_id', 'touchpoint_number') }}

),

-- The first touchpoint on the converting device: the first click the device identity gives.
device_first_touches as (

    select
        conversion_id,
        channel_group,
        row_number() over (partition by conversion_id order by touchpoint_number) as device_rank

    from steps

    where session_user_pseudo_id = user_pseudo_id

),

conversions as (

    select
        conversion_id,
        conversion_date,
        converted_at,
        max(revenue) as revenue,
        max(case when ga_session_id is not null then touchpoint_count else 0 end) as touchpoints,
        sum(case when session_user_pseudo_id <> user_pseudo_id then 1 else 0 end) as other_device_touchpoints,
        min(touched_at_micros) as first_touched_at_micros,
        max(converted_at_micros) as converted_at_micros,
        max(case when touchpoint_number = 1 then channel_group end) as first_channel_group,
        max(case when touchpoint_number = touchpoint_count then channel_group end) as last_channel_group,
        max(case when is_provisional then 1 else 0 end) = 1 as is_provisional

    from touchpoint_rows

    group by conversion_id, conversion_date, converted_at

),

conversion_paths as (

    select
        conversions.conversion_id,
        conversions.conversion_date,
        conversions.converted_at,
        coalesce(paths.path, '(unattributed)') as path,  -- noqa: RF04
        conversions.touchpoints,
        conversions.other_device_touchpoints,
        -- Whole days, 24 hours each, from the first touchpoint's session start to the conversion.
        cast(
            floor((conversions.converted_at_micros - conversions.first_touched_at_micros) / 86400000000.0)
            as {{ dbt.type_bigint() }}
        ) as days_to_conversion,
        conversions.first_channel_group,
        coalesce(device_first_touches.channel_group, conversions.first_channel_group) as device_first_channel_group,
        conversions.last_channel_group,
        conversions.revenue,
        conversions.is_provisional

    from conversions

    left join paths
        on conversions.conversion_id = paths.conversion_id

    left join device_first_touches
        on
            conversions.conversion_id = device_first_touches.conversion_id
            and device_first_touches.device_rank = 1

)

select * from conversion_paths
