-- The most recent streamed events (var('live_events_limit') of them), newest first: the dashboard's
-- live feed showing that batches are arriving. Ranked among the events of the last
-- var('live_events_days') days before the newest loaded day only: a constant bound that BigQuery
-- prunes the streamed table's partitions by, instead of sorting every event ever streamed each run.

with

events as (

    select * from {{ ref('int_events') }}

    where
        event_origin = 'stream'
        and {{ event_date_from(newest_loaded_event_date(), days_before=var('live_events_days')) }}

),

ranked_events as (

    select
        row_number() over (order by event_timestamp desc, event_id desc) as recency_rank,
        event_id,
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
        event_at

    from events

),

live_events as (

    select * from ranked_events

    where recency_rank <= {{ var('live_events_limit') | int }}

)

select * from live_events

order by recency_rank
