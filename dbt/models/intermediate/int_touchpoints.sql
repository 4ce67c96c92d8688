-- Touchpoints link each conversion to the sessions that can earn its credit (README: attribution rules): the user's
-- sessions that started within [converted_at - lookback, converted_at], both ends included, to the
-- microsecond, plus the converting session always; numbered by session start, then ga_session_id.
-- A conversion with no such session (no user id: consent mode; no session in the lookback) still
-- counts: one touchpoint without a session, channel_group (unattributed), so every model credits it.

{%- set lookback_micros = var('lookback_days') | int * 86400000000 %}

{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ forget_removed_events('vanished conversion') }}",
        **rebuild_rows_by('conversion_id'),
    )
}}

with

-- Incremental: every conversion of the users whose conversions or sessions were rebuilt since this
-- model's last build, rebuilt whole (a touchpoint can leave the lookback window when a late event
-- moves a session's start or a conversion's time).
rebuilt as (

    select
        user_pseudo_id,
        _events_loaded_at

    from {{ ref('int_conversions') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

    union all

    select
        user_pseudo_id,
        _events_loaded_at

    from {{ ref('int_sessions') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

    union all

    -- Users with events removed from the GA4 export: their rows were deleted before this build
    -- (pre_hook), and a session that vanished leaves no row to rebuild.
    select
        user_pseudo_id,
        loaded_at as _events_loaded_at

    from {{ removed_since_watermark(is_incremental()) }} as removed

),

conversions as (

    select
        *,
        converted_at_micros - {{ lookback_micros }} as window_start_micros

    from {{ ref('int_conversions') }}

    {% if is_incremental() -%}
        where
            user_pseudo_id in (select rebuilt.user_pseudo_id from rebuilt)
            or (user_pseudo_id is null and {{ rebuilt_since_watermark(true) }})
    {%- endif %}

),

sessions as (

    select * from {{ ref('int_sessions') }}

    {% if is_incremental() -%}
        where user_pseudo_id in (select rebuilt.user_pseudo_id from rebuilt)
    {%- endif %}

),

qualifying_sessions as (

    select
        conversions.conversion_id,
        conversions.user_pseudo_id,
        conversions.revenue,
        conversions.converted_at_micros,
        conversions.converted_at,
        conversions.conversion_date,
        conversions.is_provisional or coalesce(sessions.is_provisional, false) as rests_on_intraday,
        sessions.ga_session_id,
        coalesce(sessions.source, '(unattributed)') as source,
        coalesce(sessions.medium, '(unattributed)') as medium,
        coalesce(sessions.campaign, '(unattributed)') as campaign,
        coalesce(sessions.channel_group, '(unattributed)') as channel_group,
        coalesce(sessions.is_direct, false) as is_direct,
        sessions.session_start_micros as touched_at_micros,
        sessions.session_started_at as touched_at

    from conversions

    left join sessions
        on
            conversions.user_pseudo_id = sessions.user_pseudo_id
            and (
                conversions.ga_session_id = sessions.ga_session_id
                or sessions.session_start_micros
                between conversions.window_start_micros and conversions.converted_at_micros
            )

),

touchpoints as (

    select
        conversion_id,
        user_pseudo_id,
        ga_session_id,
        row_number() over (
            partition by conversion_id
            order by touched_at_micros, ga_session_id
        ) as touchpoint_number,
        count(*) over (partition by conversion_id) as touchpoint_count,
        source,
        medium,
        campaign,
        channel_group,
        is_direct,
        revenue,
        touched_at_micros,
        touched_at,
        converted_at_micros,
        converted_at,
        conversion_date,
        -- The conversion or one of its sessions rests on an intraday event: its credits can still move.
        max(case when rests_on_intraday then 1 else 0 end) over (partition by conversion_id) = 1 as is_provisional,
        (select max(rebuilt._events_loaded_at) from rebuilt) as _events_loaded_at

    from qualifying_sessions

)

select * from touchpoints
