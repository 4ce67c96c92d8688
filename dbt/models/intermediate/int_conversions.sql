-- Conversions are what attribution credits (README: attribution rules): events named in var('conversion_events'),
-- one row per order. A transaction_id sent more than once is one conversion, its first occurrence wins;
-- without a transaction_id the event is its own conversion.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='conversion_id',
        on_schema_change='fail',
    )
}}

with

-- Incremental: only the conversions of users with new events, and of users sharing a transaction_id
-- with them (a conversion never disappears, so merging on conversion_id replaces it).
events as (

    select * from {{ ref('int_events') }}

    where {{ user_has_new_events(ref('int_events'), is_incremental()) }}

),

conversion_events as (

    select
        coalesce(transaction_id, event_id) as conversion_id,
        event_id,
        transaction_id,
        user_pseudo_id,
        ga_session_id,
        event_name,
        coalesce(purchase_revenue, 0) as revenue,
        event_timestamp as converted_at_micros,
        event_at as converted_at,
        row_number() over (
            partition by coalesce(transaction_id, event_id)
            order by event_timestamp, event_id
        ) as occurrence

    from events

    where event_name in (
        {%- for conversion_event in var('conversion_events') %}
            '{{ conversion_event }}'{{ ',' if not loop.last }}
        {%- endfor %}
    )

),

conversions as (

    select
        conversion_id,
        event_id,
        transaction_id,
        user_pseudo_id,
        ga_session_id,
        event_name,
        revenue,
        converted_at_micros,
        converted_at,
        cast(converted_at as date) as conversion_date,
        {{ events_loaded_at(ref('int_events')) }} as _events_loaded_at

    from conversion_events

    where occurrence = 1

)

select * from conversions
