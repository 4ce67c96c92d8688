-- The channel paths of the data-driven model (README: data-driven attribution), one row per transition:
-- (start) → the channel groups of a path's sessions in order → (conversion) or (null).
-- - Converting path: a conversion's touchpoints (int_touchpoints). A conversion without a session to
--   credit ((unattributed): no user id, or no session in the lookback) has no path.
-- - Non-converting path: per user, the sessions that started after the user's last conversion (all of
--   them if none), within the lookback before the last of them.

{%- set lookback_micros = var('lookback_days') | int * 86400000000 %}

{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ forget_removed_events('user') }}",
        **rebuild_rows_by('user_pseudo_id'),
    )
}}

with

-- Incremental: every path of the users whose sessions, conversions or touchpoints were rebuilt since
-- this model's last build, rebuilt whole (a new conversion turns a non-converting path into part of a
-- converting one).
rebuilt as (

    select
        user_pseudo_id,
        _events_loaded_at

    from {{ ref('int_touchpoints') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

    union all

    select
        user_pseudo_id,
        _events_loaded_at

    from {{ ref('int_sessions') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

    union all

    select
        user_pseudo_id,
        _events_loaded_at

    from {{ ref('int_conversions') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

    union all

    -- Users with events removed from the GA4 export: their paths were deleted before this build
    -- (pre_hook) and are rebuilt from what remains.
    select
        user_pseudo_id,
        loaded_at as _events_loaded_at

    from {{ removed_since_watermark(is_incremental()) }} as removed

),

rebuilt_users as (

    select distinct user_pseudo_id

    from rebuilt

    where user_pseudo_id is not null

),

converting_steps as (

    select
        touchpoints.conversion_id as path_id,
        touchpoints.user_pseudo_id,
        true as is_converting,
        touchpoints.touchpoint_number as step_number,
        touchpoints.touchpoint_count as step_count,
        touchpoints.channel_group

    from {{ ref('int_touchpoints') }} as touchpoints

    inner join rebuilt_users
        on touchpoints.user_pseudo_id = rebuilt_users.user_pseudo_id

    where touchpoints.ga_session_id is not null

),

last_conversions as (

    select
        conversions.user_pseudo_id,
        max(conversions.converted_at_micros) as converted_at_micros

    from {{ ref('int_conversions') }} as conversions

    inner join rebuilt_users
        on conversions.user_pseudo_id = rebuilt_users.user_pseudo_id

    group by conversions.user_pseudo_id

),

sessions_after_last_conversion as (

    select
        sessions.user_pseudo_id,
        sessions.ga_session_id,
        sessions.session_start_micros,
        sessions.channel_group,
        max(sessions.session_start_micros) over (partition by sessions.user_pseudo_id) as last_start_micros

    from {{ ref('int_sessions') }} as sessions

    inner join rebuilt_users
        on sessions.user_pseudo_id = rebuilt_users.user_pseudo_id

    left join last_conversions
        on sessions.user_pseudo_id = last_conversions.user_pseudo_id

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
        concat('(not converted) ', user_pseudo_id) as path_id,
        user_pseudo_id,
        false as is_converting,
        row_number() over (
            partition by user_pseudo_id
            order by session_start_micros, ga_session_id
        ) as step_number,
        count(*) over (partition by user_pseudo_id) as step_count,
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
        user_pseudo_id,
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
        user_pseudo_id,
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
