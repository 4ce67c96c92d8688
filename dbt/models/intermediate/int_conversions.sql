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
        pre_hook="{{ forget_removed_events('event') }}",
    )
}}

{%- set first_new_day = first_new_event_date() %}
{#- With no event removed from the export since the watermark (no pre_hook, nothing to rebuild from
    other occurrences), the watermark read once, as a constant the scans prune by. -#}
{%- set rebuilds_removed = is_incremental() and removed_since_watermark_may_exist() %}
{%- set since = watermark_constant() if is_incremental() and not rebuilds_removed else none %}

with

new_events as (

    select * from {{ ref('int_events') }}

    where {{ loaded_since_watermark(is_incremental(), first_new_day, since) }}

),

-- Events removed from the GA4 export since the last build. A conversion whose first occurrence was
-- one of them was deleted before this build (pre_hook) and is rebuilt from its other occurrences.
removed_events as (

    select * from {{ removed_since_watermark(is_incremental()) }} as removed

),

loads as (

    select loaded_at from new_events

    union all

    select loaded_at from removed_events

),

-- The occurrences of conversion events loaded since the last build; and, incremental, every other
-- occurrence of a conversion a removed event was an occurrence of: all later than the removed one, so
-- from the first new event's day on too (first_new_event_date counts removed events).
fresh_occurrences as (

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
        is_provisional

    from {{ ref('int_events') }}

    where
        {{ is_conversion_event('event_name') }}
        -- A constant day at the top: BigQuery prunes partitions by it.
        and {{ event_date_from(first_new_day) }}
        and (
            {{ loaded_since_watermark(is_incremental(), none, since) }}
            {%- if rebuilds_removed %}
                or coalesce(transaction_id, event_id) in (select removed_events.conversion_id from removed_events)
            {%- endif %}
        )

),

-- Incremental: the conversions with new occurrences. Each is the earliest of its new occurrences and
-- of the conversion as built so far (the earliest occurrence loaded before), so the whole history of
-- a transaction_id is never read again; merging on conversion_id replaces it.
occurrences as (

    select * from fresh_occurrences

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
            converted_at,
            is_provisional

        from {{ this }}

        where
            conversion_id in (select fresh_occurrences.conversion_id from fresh_occurrences)
            -- A re-read event (its daily row replacing the intraday one) counts as read now.
            and event_id not in (select fresh_occurrences.event_id from fresh_occurrences)
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
        -- Its first occurrence was read from an intraday table (GA4's streaming export).
        is_provisional,
        (select max(loads.loaded_at) from loads) as _events_loaded_at

    from numbered

    where occurrence = 1

)

select * from conversions
