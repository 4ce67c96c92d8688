-- Touchpoints link each conversion to the sessions that can earn its credit (README: attribution rules): the
-- sessions of its journey (the converting device's; blended, every device of its user: docs/identity.md)
-- that started within [converted_at - lookback, converted_at], both ends included, to the microsecond,
-- plus the converting session always; numbered by session start, then ga_session_id, then device.
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

-- Incremental: every conversion of the journeys changed since this model's last build, rebuilt whole
-- (a touchpoint can leave the lookback window when a late event moves a session's start or a
-- conversion's time; a device that logs in brings its sessions to its user's journey).
rebuilt as (

    select * from {{ rebuilt_journeys(watermark(is_incremental())) }} as journeys

),

-- Used by incremental builds only.
rebuilt_journeys as (  -- noqa: ST03

    select distinct journey_key from rebuilt

),

conversions as (

    select
        *,
        converted_at_micros - {{ lookback_micros }} as window_start_micros

    from {{ with_journey(ref('int_conversions')) }} as conversions

    {% if is_incremental() -%}
        where
            user_pseudo_id in {{ journey_devices('rebuilt_journeys') }}
            or (user_pseudo_id is null and {{ rebuilt_since_watermark(true) }})
    {%- endif %}

),

sessions as (

    select * from {{ with_journey(ref('int_sessions')) }} as sessions

    {% if is_incremental() -%}
        where user_pseudo_id in {{ journey_devices('rebuilt_journeys') }}
    {%- endif %}

),

qualifying_sessions as (

    select
        conversions.conversion_id,
        conversions.user_pseudo_id,
        conversions.journey_key,
        sessions.user_pseudo_id as session_user_pseudo_id,
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
            conversions.journey_key = sessions.journey_key
            and (
                (
                    conversions.user_pseudo_id = sessions.user_pseudo_id
                    and conversions.ga_session_id = sessions.ga_session_id
                )
                or sessions.session_start_micros
                between conversions.window_start_micros and conversions.converted_at_micros
            )

),

touchpoints as (

    select
        conversion_id,
        user_pseudo_id,
        journey_key,
        session_user_pseudo_id,
        ga_session_id,
        row_number() over (
            partition by conversion_id
            order by touched_at_micros, ga_session_id, session_user_pseudo_id
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
