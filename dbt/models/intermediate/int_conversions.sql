-- Conversions are what attribution credits (README: attribution rules): events named in var('conversion_events'),
-- one row per order. A transaction_id sent more than once is one conversion, its first occurrence wins;
-- without a transaction_id the event is its own conversion.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='conversion_id',
        on_schema_change='fail',
        partition_by=date_partitioning('conversion_date'),
        cluster_by=['user_pseudo_id'],
    )
}}

{%- set first_new_day = first_new_event_date() %}

with

new_events as (

    select * from {{ ref('int_events') }}

    where {{ loaded_since_watermark(is_incremental(), first_new_day) }}

),

new_occurrences as (

    select
        coalesce(transaction_id, event_id) as conversion_id,
        event_id,
        transaction_id,
        user_pseudo_id,
        ga_session_id,
        event_name,
        coalesce(purchase_revenue, 0) as revenue,
        event_timestamp as converted_at_micros,
        event_at as converted_at

    from new_events

    where {{ is_conversion_event('event_name') }}

),

-- Incremental: the conversions with new occurrences. Each is the earliest of its new occurrences and
-- of the conversion as built so far (the earliest occurrence loaded before), so the whole history of
-- a transaction_id is never read again; merging on conversion_id replaces it.
occurrences as (

    select * from new_occurrences

    {% if is_incremental() -%}
        union all

        select
            conversion_id,
            event_id,
            transaction_id,
            user_pseudo_id,
            ga_session_id,
            event_name,
            revenue,
            converted_at_micros,
            converted_at

        from {{ this }}

        where conversion_id in (select new_occurrences.conversion_id from new_occurrences)
    {%- endif %}

),

numbered as (

    select
        *,
        row_number() over (
            partition by conversion_id
            order by converted_at_micros, event_id
        ) as occurrence

    from occurrences

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
        (select max(new_events.loaded_at) from new_events) as _events_loaded_at

    from numbered

    where occurrence = 1

)

select * from conversions
