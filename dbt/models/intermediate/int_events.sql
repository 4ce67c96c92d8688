-- The one event shape every downstream model reads: GA4 history and streamed events, each row tagged
-- with where it came from (event_origin), with the traffic-source rules of a real GA4 property applied
-- (docs/ga4.md): placeholders meaning "none" removed, a click id standing in for a missing manual
-- source (a Google Ads click with the Ads campaign GA4 names for its session), unwanted referrals
-- (listed hosts, the event's own site, ignore_referrer) carrying no source.
-- The two origins do not overlap in time: history ends where the stream begins (README: GA4 history),
-- so no event is counted twice. is_provisional: read from GA4's streaming export (an intraday
-- table), to be replaced by the day's daily data. A view: incremental models downstream read only their
-- touched users' events from it.

{{ config(materialized='view') }}

with

-- Events the export no longer holds (an intraday event its day's daily table lacks) are not events:
-- int_removed_events lists them for the incremental models.
ga4_events as (

    select * from {{ ref('stg_ga4_events') }}

    where not is_removed

),

streamed_events as (

    select * from {{ ref('stg_streamed_events') }}

),

click_ids as (

    select * from {{ ref('ga4_click_ids') }}

),

events as (

    select
        event_id,
        'ga4' as event_origin,
        user_pseudo_id,
        user_key,
        ga_session_id,
        transaction_id,
        event_name,
        source,
        medium,
        campaign,
        campaign_id,
        click_id,
        ignores_referrer,
        page_location,
        device_category,
        country,
        purchase_revenue,
        first_touch_source,
        first_touch_medium,
        first_touch_campaign,
        ga4_channel_group,
        ga4_source,
        ga4_medium,
        google_ads_campaign,
        google_ads_campaign_id,
        event_timestamp,
        event_at,
        event_date,
        loaded_at,
        is_provisional

    from ga4_events

    union all

    select
        event_id,
        'stream' as event_origin,
        user_pseudo_id,
        user_key,
        ga_session_id,
        transaction_id,
        event_name,
        source,
        medium,
        campaign,
        campaign_id,
        cast(null as {{ dbt.type_string() }}) as click_id,
        false as ignores_referrer,
        page_location,
        device_category,
        country,
        purchase_revenue,
        cast(null as {{ dbt.type_string() }}) as first_touch_source,
        cast(null as {{ dbt.type_string() }}) as first_touch_medium,
        cast(null as {{ dbt.type_string() }}) as first_touch_campaign,
        cast(null as {{ dbt.type_string() }}) as ga4_channel_group,
        cast(null as {{ dbt.type_string() }}) as ga4_source,
        cast(null as {{ dbt.type_string() }}) as ga4_medium,
        cast(null as {{ dbt.type_string() }}) as google_ads_campaign,
        cast(null as {{ dbt.type_string() }}) as google_ads_campaign_id,
        event_timestamp,
        event_at,
        event_date,
        loaded_at,
        false as is_provisional

    from streamed_events

),

without_placeholders as (

    select
        event_id,
        event_origin,
        user_pseudo_id,
        user_key,
        ga_session_id,
        transaction_id,
        event_name,
        {{ without_placeholder('source', 'source') }} as collected_source,
        {{ without_placeholder('medium', 'medium') }} as collected_medium,
        {{ without_placeholder('campaign', 'campaign') }} as collected_campaign,
        {{ without_placeholder('campaign_id', 'campaign') }} as collected_campaign_id,
        click_id,
        ignores_referrer,
        {{ url_host('page_location') }} as page_host,
        page_location,
        device_category,
        country,
        purchase_revenue,
        {{ without_placeholder('first_touch_source', 'source') }} as first_touch_source,
        {{ without_placeholder('first_touch_medium', 'medium') }} as first_touch_medium,
        {{ without_placeholder('first_touch_campaign', 'campaign') }} as first_touch_campaign,
        ga4_channel_group,
        ga4_source,
        ga4_medium,
        {{ without_placeholder('google_ads_campaign', 'campaign') }} as google_ads_campaign,
        {{ without_placeholder('google_ads_campaign_id', 'campaign') }} as google_ads_campaign_id,
        event_timestamp,
        event_at,
        event_date,
        loaded_at,
        is_provisional

    from events

),

-- Which referrals are unwanted (listed host, own site, ignore_referrer): they carry no source.
unwanted as (

    select
        *,
        coalesce(
            collected_source is not null
            and {{ is_unwanted_referral('collected_source', 'collected_medium', 'page_host', 'ignores_referrer') }},
            false
        ) as is_unwanted_referral,
        coalesce(
            first_touch_source is not null
            and {{ is_unwanted_referral('first_touch_source', 'first_touch_medium', 'page_host', 'ignores_referrer') }},
            false
        ) as is_unwanted_first_touch

    from without_placeholders

),

-- An event's source: a manual (non-referral) source; else its click id's; else a referral that is
-- not unwanted; else none.
ruled as (

    select
        *,
        case
            when collected_source is not null and coalesce(lower(collected_medium) <> 'referral', true) then 'event'
            when click_id is not null then 'click id'
            when collected_source is not null and not is_unwanted_referral then 'event'
        end as source_rule

    from unwanted

),

ruled_events as (

    select
        ruled.event_id,
        ruled.event_origin,
        ruled.user_pseudo_id,
        ruled.user_key,
        ruled.ga_session_id,
        ruled.transaction_id,
        ruled.event_name,
        case ruled.source_rule
            when 'event' then ruled.collected_source
            when 'click id' then click_ids.source
        end as source,
        case ruled.source_rule
            when 'event' then ruled.collected_medium
            when 'click id' then click_ids.medium
        end as medium,
        -- A Google Ads click's campaign is the one GA4 names for its session (the click carries none).
        case
            when ruled.source_rule = 'event' then ruled.collected_campaign
            when ruled.source_rule = 'click id' and click_ids.source = 'google' and click_ids.medium = 'cpc'
                then ruled.google_ads_campaign
        end as campaign,
        case
            when ruled.source_rule = 'event' then ruled.collected_campaign_id
            when ruled.source_rule = 'click id' and click_ids.source = 'google' and click_ids.medium = 'cpc'
                then ruled.google_ads_campaign_id
        end as campaign_id,
        ruled.source_rule,
        ruled.is_unwanted_referral,
        ruled.click_id,
        ruled.page_location,
        ruled.device_category,
        ruled.country,
        ruled.purchase_revenue,
        case when not ruled.is_unwanted_first_touch then ruled.first_touch_source end as first_touch_source,
        case when not ruled.is_unwanted_first_touch then ruled.first_touch_medium end as first_touch_medium,
        case when not ruled.is_unwanted_first_touch then ruled.first_touch_campaign end as first_touch_campaign,
        ruled.ga4_channel_group,
        ruled.ga4_source,
        ruled.ga4_medium,
        ruled.event_timestamp,
        ruled.event_at,
        ruled.event_date,
        ruled.loaded_at,
        ruled.is_provisional

    from ruled

    left join click_ids
        on ruled.click_id = click_ids.click_id

)

select * from ruled_events
