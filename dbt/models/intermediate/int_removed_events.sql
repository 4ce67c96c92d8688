-- GA4 events the export no longer holds: an intraday event its day's daily table lacks (the daily
-- table is the record; docs/incremental.md: the handover). Each row is loaded when the handover found
-- it gone, so the incremental models forget it by their watermark (macro forget_removed_events).
-- A view over stg_ga4_events' few removed rows.

{{ config(materialized='view') }}

with

removed_events as (

    select
        event_id,
        user_pseudo_id,
        ga_session_id,
        coalesce(transaction_id, event_id) as conversion_id,
        event_date,
        loaded_at

    from {{ ref('stg_ga4_events') }}

    where is_removed

)

select * from removed_events
