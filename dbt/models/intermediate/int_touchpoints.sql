-- Touchpoints link each conversion to the sessions that can earn its credit (README: attribution rules): the user's
-- sessions that started within [converted_at - lookback, converted_at], both ends included, to the
-- microsecond, plus the converting session always; numbered by session start, then ga_session_id.

{%- set lookback_micros = var('lookback_days') | int * 86400000000 %}

{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        **rebuild_rows_by('conversion_id'),
    )
}}

with

-- Incremental: the touchpoints of touched users' conversions are rebuilt whole (a touchpoint can
-- leave the lookback window when a late event moves a session's start or a conversion's time).
conversions as (

    select
        *,
        converted_at_micros - {{ lookback_micros }} as window_start_micros

    from {{ ref('int_conversions') }}

    where {{ user_has_new_events(ref('int_events'), is_incremental()) }}

),

sessions as (

    select * from {{ ref('int_sessions') }}

    where {{ user_has_new_events(ref('int_events'), is_incremental()) }}

),

qualifying_sessions as (

    select
        conversions.conversion_id,
        conversions.user_pseudo_id,
        conversions.revenue,
        conversions.converted_at_micros,
        conversions.converted_at,
        conversions.conversion_date,
        sessions.ga_session_id,
        sessions.source,
        sessions.medium,
        sessions.campaign,
        sessions.channel_group,
        sessions.is_direct,
        sessions.session_start_micros as touched_at_micros,
        sessions.session_started_at as touched_at

    from conversions

    inner join sessions
        on conversions.user_pseudo_id = sessions.user_pseudo_id

    where
        conversions.ga_session_id = sessions.ga_session_id
        or sessions.session_start_micros between conversions.window_start_micros and conversions.converted_at_micros

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
        {{ events_loaded_at(ref('int_events')) }} as _events_loaded_at

    from qualifying_sessions

)

select * from touchpoints
