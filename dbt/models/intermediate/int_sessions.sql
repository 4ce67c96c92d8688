-- Sessions are attribution's touchpoints (README: attribution rules). One row per user and GA4 session: when it
-- started and the traffic source of its earliest event that carries one, classified into GA4's
-- default channel group. A session with no sourced event is direct.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['user_pseudo_id', 'ga_session_id'],
        on_schema_change='fail',
    )
}}

with

-- Incremental: only the sessions of users with new events (a session only ever gains events, so
-- merging on the session replaces it).
events as (

    select * from {{ ref('int_events') }}

    where {{ user_has_new_events(ref('int_events'), is_incremental()) }}

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

sessions as (

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
        session_sources.source = '(direct)' as is_direct,
        session_sources.session_start_micros,
        session_sources.session_started_at,
        {{ events_loaded_at(ref('int_events')) }} as _events_loaded_at

    from session_sources

    left join source_categories
        on lower(session_sources.source) = source_categories.source

)

select * from sessions
