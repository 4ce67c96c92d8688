-- Sessions are attribution's touchpoints (README: attribution rules). One row per user and GA4 session: when it
-- started and its traffic source, classified into GA4's default channel group: the source of its
-- earliest event that carries one after int_events' rules; else, for the user's first session (the one
-- holding first_visit / first_open), the user's first-touch source; else direct (docs/ga4.md). Events
-- without a user or a session id have no session: mart_set_aside_events counts them.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['user_pseudo_id', 'ga_session_id'],
        on_schema_change='fail',
        partition_by=date_partitioning('session_date'),
        cluster_by=['user_pseudo_id'],
        pre_hook="{{ forget_removed_events('session') }}",
    )
}}

{%- set first_new_day = first_new_event_date() %}
{#- Read once: the new events and the older ones are told apart by the same watermark, whatever the
    pre_hook deletes. -#}
{%- set since = watermark_constant() if is_incremental() else none %}
{%- set first_seen_day = first_day_seen_of_touched_sessions(first_new_day, since) %}

with

new_events as (

    select * from {{ ref('int_events') }}

    where
        {{ loaded_since_watermark(is_incremental(), first_new_day, since) }}
        and user_pseudo_id is not null
        and ga_session_id is not null

),

-- Events removed from the GA4 export since the last build: their sessions were deleted before this
-- build (pre_hook) and are rebuilt from the events that remain, if any.
removed_events as (

    select * from {{ removed_since_watermark(is_incremental()) }} as removed

    where
        user_pseudo_id is not null
        and ga_session_id is not null

),

-- Used by incremental builds only.
touched_sessions as (  -- noqa: ST03

    select distinct
        user_pseudo_id,
        ga_session_id

    from (
        select
            user_pseudo_id,
            ga_session_id
        from new_events
        union all
        select
            user_pseudo_id,
            ga_session_id
        from removed_events
    ) as touched

),

-- The newest load this build has seen.
loads as (

    select loaded_at from new_events

    union all

    select loaded_at from removed_events

),

-- Incremental: only the sessions with new or removed events, rebuilt from all their events (merging
-- on the session replaces it): the new ones, and those earlier builds saw, from the first day of them
-- (first_day_seen_of_touched_sessions; none when every touched session is new).
events as (

    select * from new_events

    {%- if is_incremental() %}

        union all

        select all_events.* from {{ ref('int_events') }} as all_events

        inner join touched_sessions
            on
                all_events.user_pseudo_id = touched_sessions.user_pseudo_id
                and all_events.ga_session_id = touched_sessions.ga_session_id

        where
            {{ event_date_from(first_seen_day) }}
            and all_events.loaded_at <= {{ since }}
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
        min(event_at) as session_started_at,
        max(case when is_unwanted_referral then 1 else 0 end) = 1 as had_unwanted_referral,
        max(case when is_provisional then 1 else 0 end) = 1 as is_provisional

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
        campaign_id,
        source_rule,
        row_number() over (
            partition by user_pseudo_id, ga_session_id
            order by event_timestamp, event_id
        ) as source_rank

    from events

    where source is not null

),

-- The user's first-touch source, on the event that starts the user (first_visit / first_open).
first_touches as (

    select
        user_pseudo_id,
        ga_session_id,
        first_touch_source,
        first_touch_medium,
        first_touch_campaign,
        row_number() over (
            partition by user_pseudo_id, ga_session_id
            order by event_timestamp, event_id
        ) as first_touch_rank

    from events

    where first_touch_source is not null

),

-- GA4's own last-click attribution of the session, where the export has it.
ga4_attributions as (

    select
        user_pseudo_id,
        ga_session_id,
        ga4_channel_group,
        ga4_source,
        ga4_medium,
        row_number() over (
            partition by user_pseudo_id, ga_session_id
            order by event_timestamp, event_id
        ) as ga4_rank

    from events

    where ga4_channel_group is not null

),

session_sources as (

    select
        session_starts.user_pseudo_id,
        session_starts.ga_session_id,
        session_starts.session_start_micros,
        session_starts.session_started_at,
        session_starts.had_unwanted_referral,
        session_starts.is_provisional,
        case
            when sourced_events.source is not null then sourced_events.source_rule
            when first_touches.first_touch_source is not null then 'first visit'
            else 'none'
        end as source_rule,
        coalesce(sourced_events.source, first_touches.first_touch_source, '(direct)') as source,
        coalesce(
            case
                when sourced_events.source is not null then sourced_events.medium else first_touches.first_touch_medium
            end,
            '(none)'
        ) as medium,
        case
            when sourced_events.source is not null then coalesce(sourced_events.campaign, '(not set)')
            when
                first_touches.first_touch_source is not null
                then coalesce(first_touches.first_touch_campaign, '(not set)')
            else '(direct)'
        end as campaign,
        -- The campaign id (utm_id) comes with the session's own source only: a first touch has none.
        case when sourced_events.source is not null then sourced_events.campaign_id end as campaign_id,
        ga4_attributions.ga4_channel_group,
        ga4_attributions.ga4_source,
        ga4_attributions.ga4_medium

    from session_starts

    left join sourced_events
        on
            session_starts.user_pseudo_id = sourced_events.user_pseudo_id
            and session_starts.ga_session_id = sourced_events.ga_session_id
            and sourced_events.source_rank = 1

    left join first_touches
        on
            session_starts.user_pseudo_id = first_touches.user_pseudo_id
            and session_starts.ga_session_id = first_touches.ga_session_id
            and first_touches.first_touch_rank = 1

    left join ga4_attributions
        on
            session_starts.user_pseudo_id = ga4_attributions.user_pseudo_id
            and session_starts.ga_session_id = ga4_attributions.ga_session_id
            and ga4_attributions.ga4_rank = 1

),

classified_sessions as (

    select
        session_sources.user_pseudo_id,
        session_sources.ga_session_id,
        session_sources.source,
        session_sources.medium,
        session_sources.campaign,
        session_sources.campaign_id,
        source_categories.source_category,
        {{ default_channel_group(
            'session_sources.source',
            'session_sources.medium',
            'session_sources.campaign',
            'source_categories.source_category',
        ) }} as channel_group,
        session_sources.source_rule,
        session_sources.had_unwanted_referral,
        session_sources.is_provisional,
        session_sources.ga4_channel_group,
        session_sources.ga4_source,
        session_sources.ga4_medium,
        session_sources.session_start_micros,
        session_sources.session_started_at,
        cast(session_sources.session_started_at as date) as session_date,
        (select max(loads.loaded_at) from loads) as _events_loaded_at

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
        campaign_id,
        source_category,
        channel_group,
        -- Direct is GA4's channel, not the literal source: (direct) / referral is a Referral touchpoint.
        channel_group = 'Direct' as is_direct,
        source_rule,
        had_unwanted_referral,
        -- Rests on an intraday event: its source can still move (the first-touch source arrives with the
        -- daily table).
        is_provisional,
        ga4_channel_group,
        ga4_source,
        ga4_medium,
        session_start_micros,
        session_started_at,
        session_date,
        _events_loaded_at

    from classified_sessions

)

select * from sessions
