-- The one event shape every downstream model reads. Today it holds streamed events only; GA4 history
-- joins as another union branch, each row tagged with where it came from (event_origin).

with

streamed_events as (

    select * from {{ ref('stg_streamed_events') }}

),

events as (

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
        event_date

    from streamed_events

)

select * from events
