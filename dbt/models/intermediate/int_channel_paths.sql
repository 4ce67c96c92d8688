-- The channel paths of the data-driven model (README: data-driven attribution), one row per transition:
-- (start) → the channel groups of a path's sessions in order → (conversion) or (null).
-- - Converting path: a conversion's touchpoints (int_touchpoints). A conversion without a session to
--   credit ((unattributed): no user id, or no session in the lookback) has no path.
-- - Non-converting path: per journey (a device, or blended every device of one user: docs/identity.md),
--   the sessions that started after the journey's last conversion (all of them if none), within the
--   lookback before the last of them.

{%- set lookback_micros = var('lookback_days') | int * 86400000000 %}

{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ forget_left_journeys() }}",
        **rebuild_rows_by('journey_key'),
    )
}}

with

-- Incremental: every path of the journeys whose sessions, conversions, touchpoints or devices changed
-- since this model's last build, rebuilt whole (a new conversion turns a non-converting path into part
-- of a converting one). Journeys that may be left without a path were deleted before this build
-- (pre_hook forget_left_journeys).
rebuilt as (

    select * from {{ rebuilt_journeys(watermark(is_incremental())) }} as journeys

    union all

    select
        journey_key,
        _events_loaded_at

    from {{ ref('int_touchpoints') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

),

rebuilt_journeys as (

    select distinct journey_key

    from rebuilt

    where journey_key is not null

),

converting_steps as (

    select
        touchpoints.conversion_id as path_id,
        touchpoints.journey_key,
        true as is_converting,
        touchpoints.touchpoint_number as step_number,
        touchpoints.touchpoint_count as step_count,
        touchpoints.channel_group

    from {{ ref('int_touchpoints') }} as touchpoints

    {% if is_incremental() -%}
        inner join rebuilt_journeys
            on touchpoints.journey_key = rebuilt_journeys.journey_key
    {%- endif %}

    where touchpoints.ga_session_id is not null

),

sessions as (

    select * from {{ with_journey(ref('int_sessions')) }} as sessions

    {% if is_incremental() -%}
        where user_pseudo_id in {{ journey_devices('rebuilt_journeys') }}
    {%- endif %}

),

last_conversions as (

    select
        journey_key,
        max(converted_at_micros) as converted_at_micros

    from {{ with_journey(ref('int_conversions')) }} as conversions

    where
        user_pseudo_id is not null
        {%- if is_incremental() %}
            and user_pseudo_id in {{ journey_devices('rebuilt_journeys') }}
        {%- endif %}

    group by journey_key

),

sessions_after_last_conversion as (

    select
        sessions.journey_key,
        sessions.user_pseudo_id,
        sessions.ga_session_id,
        sessions.session_start_micros,
        sessions.channel_group,
        max(sessions.session_start_micros) over (partition by sessions.journey_key) as last_start_micros

    from sessions

    left join last_conversions
        on sessions.journey_key = last_conversions.journey_key

    where
        last_conversions.converted_at_micros is null
        or sessions.session_start_micros > last_conversions.converted_at_micros

),

non_converting_sessions as (

    select * from sessions_after_last_conversion

    where session_start_micros >= last_start_micros - {{ lookback_micros }}

),

non_converting_steps as (

    select
        concat('(not converted) ', journey_key) as path_id,
        journey_key,
        false as is_converting,
        row_number() over (
            partition by journey_key
            order by session_start_micros, ga_session_id, user_pseudo_id
        ) as step_number,
        count(*) over (partition by journey_key) as step_count,
        channel_group

    from non_converting_sessions

),

steps as (

    select * from converting_steps

    union all

    select * from non_converting_steps

),

-- Transition n enters step n; transition step_count + 1 leaves the last step for the path's end.
transitions as (

    select
        path_id,
        journey_key,
        is_converting,
        step_number as transition_number,
        coalesce(
            lag(channel_group) over (partition by path_id order by step_number),
            '(start)'
        ) as from_state,
        channel_group as to_state

    from steps

    union all

    select
        path_id,
        journey_key,
        is_converting,
        step_count + 1 as transition_number,
        channel_group as from_state,
        case when is_converting then '(conversion)' else '(null)' end as to_state

    from steps

    where step_number = step_count

),

paths as (

    select
        *,
        (select max(rebuilt._events_loaded_at) from rebuilt) as _events_loaded_at

    from transitions

)

select * from paths
