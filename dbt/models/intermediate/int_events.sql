-- The one event shape every downstream model reads: GA4 history and streamed events, each row tagged
-- with where it came from (event_origin). The two do not overlap in time: history ends where the
-- stream begins (README: GA4 history), so no event is counted twice. A view: incremental models
-- downstream read only their touched users' events from it.

{{ config(materialized='view') }}

with

ga4_events as (

    select * from {{ ref('stg_ga4_events') }}

),

streamed_events as (

    select * from {{ ref('stg_streamed_events') }}

),

events as (

    select
        event_id,
        'ga4' as event_origin,
        user_pseudo_id,
        ga_session_id,
        transaction_id,
        event_name,
        source,
        medium,
        campaign,
        page_location,
        device_category,
        country,
        purchase_revenue,
        event_timestamp,
        event_at,
        event_date,
        loaded_at

    from ga4_events

    union all

    select
        event_id,
        'stream' as event_origin,
        user_pseudo_id,
        ga_session_id,
        transaction_id,
        event_name,
        source,
        medium,
        campaign,
        page_location,
        device_category,
        country,
        purchase_revenue,
        event_timestamp,
        event_at,
        event_date,
        loaded_at

    from streamed_events

)

select * from events
