-- GA4 export rows that are not session events, counted with the reason (nothing is dropped silently):
-- no user id (consent mode's cookieless pings), no session id, or a repeated copy of an event already
-- counted. The dashboard's health row shows them. Conversions among the rows without a user or a session
-- still count in the marts: under (unattributed), or through the user's sessions in the lookback.
-- Streamed rows are never set aside here: the loader quarantines what breaks the contract.

with

ga4_events as (

    select * from {{ ref('stg_ga4_events') }}

    where (user_pseudo_id is null or ga_session_id is null or export_copies > 1) and not is_removed

),

without_session as (

    select
        case when user_pseudo_id is null then 'no user id' else 'no session id' end as reason,
        event_date,
        1 as events,
        case when {{ is_conversion_event('event_name') }} then 1 else 0 end as conversions,
        case when {{ is_conversion_event('event_name') }} then coalesce(purchase_revenue, 0) else 0 end as revenue

    from ga4_events

    where user_pseudo_id is null or ga_session_id is null

),

duplicates as (

    select
        'duplicate in export' as reason,
        event_date,
        export_copies - 1 as events,
        0 as conversions,
        0 as revenue

    from ga4_events

    where export_copies > 1

),

set_aside as (

    select * from without_session
    union all
    select * from duplicates

),

counted as (

    select
        'ga4' as event_origin,
        reason,
        event_date,
        sum(events) as events,
        sum(conversions) as conversions,
        sum(revenue) as revenue

    from set_aside

    group by reason, event_date

)

select * from counted
