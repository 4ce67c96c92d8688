-- Sessions are attribution's touchpoints (README: attribution rules). One row per user and GA4 session: when it
-- started and the traffic source of its earliest event that carries one, classified into GA4's
-- default channel group. A session with no sourced event is direct.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['user_pseudo_id', 'ga_session_id'],
        on_schema_change='fail',
        partition_by=date_partitioning('session_date'),
        cluster_by=['user_pseudo_id'],
    )
}}

{%- set first_new_day = first_new_event_date() %}

with

new_events as (

    select * from {{ ref('int_events') }}

    where {{ loaded_since_watermark(is_incremental(), first_new_day) }}

),

-- Used by incremental builds only.
touched_sessions as (  -- noqa: ST03

    select distinct
        user_pseudo_id,
        ga_session_id

    from new_events

),

-- Incremental: only the sessions with new events, rebuilt from all their events (a session only
-- ever gains events, so merging on the session replaces it). A session's events span less than the
-- lookback, so they are all in the partitions from lookback_days before the first new event's day.
events as (

    {% if is_incremental() -%}
        select all_events.* from {{ ref('int_events') }} as all_events

        inner join touched_sessions
            on
                all_events.user_pseudo_id = touched_sessions.user_pseudo_id
                and all_events.ga_session_id = touched_sessions.ga_session_id

        where {{ event_date_from(first_new_day, days_before=var('lookback_days')) }}
    {%- else -%}
        select * from new_events
    {%- endif %}

),

source_categories as (

    select * from {{ ref('ga4_source_categories') }}

),

session_starts as (

    select
        user_pseudo_id,
        ga_session_id,
        min(event_timestamp) as session_start_micros,
        min(event_at) as session_started_at

    from events

    group by user_pseudo_id, ga_session_id

),

sourced_events as (

    select
        user_pseudo_id,
        ga_session_id,
        source,
        medium,
        campaign,
        row_number() over (
            partition by user_pseudo_id, ga_session_id
            order by event_timestamp, event_id
        ) as source_rank

    from events

    where source is not null

),

session_sources as (

    select
        session_starts.user_pseudo_id,
        session_starts.ga_session_id,
        session_starts.session_start_micros,
        session_starts.session_started_at,
        coalesce(sourced_events.source, '(direct)') as source,
        coalesce(sourced_events.medium, '(none)') as medium,
        case
            when sourced_events.source is null then '(direct)'
            else coalesce(sourced_events.campaign, '(not set)')
        end as campaign

    from session_starts

    left join sourced_events
        on
            session_starts.user_pseudo_id = sourced_events.user_pseudo_id
            and session_starts.ga_session_id = sourced_events.ga_session_id
            and sourced_events.source_rank = 1

),

classified_sessions as (

    select
        session_sources.user_pseudo_id,
        session_sources.ga_session_id,
        session_sources.source,
        session_sources.medium,
        session_sources.campaign,
        source_categories.source_category,
        {{ default_channel_group(
            'session_sources.source',
            'session_sources.medium',
            'session_sources.campaign',
            'source_categories.source_category',
        ) }} as channel_group,
        session_sources.session_start_micros,
        session_sources.session_started_at,
        cast(session_sources.session_started_at as date) as session_date,
        (select max(new_events.loaded_at) from new_events) as _events_loaded_at

    from session_sources

    left join source_categories
        on lower(session_sources.source) = source_categories.source

),

sessions as (

    select
        user_pseudo_id,
        ga_session_id,
        source,
        medium,
        campaign,
        source_category,
        channel_group,
        -- Direct is GA4's channel, not the literal source: (direct) / referral is a Referral touchpoint.
        channel_group = 'Direct' as is_direct,
        session_start_micros,
        session_started_at,
        session_date,
        _events_loaded_at

    from classified_sessions

)

select * from sessions
