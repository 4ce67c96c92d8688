-- GA4 export events flattened into the project's event shape (the same columns as stg_streamed_events).
-- Incremental: the first build reads every export day (from var ga4_first_day if set); later runs read
-- only the last var ga4_reload_days days before the newest one already here, because GA4 rewrites
-- recent daily tables for late hits. Rows are keyed by a hash of what identifies a GA4 event, so a
-- re-read day adds only its new events, and exact duplicate rows in the export collapse. Clustered by
-- loaded_at first: the incremental models downstream look up the rows loaded since their last build
-- (first_new_event_date), which are in the newest blocks.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='event_id',
        on_schema_change='fail',
        partition_by=date_partitioning('event_date'),
        cluster_by=['loaded_at', 'user_pseudo_id'],
    )
}}

{%- set first_day = ga4_first_day_to_read() %}

with

export_events as (

    select * from {{ source('ga4', 'events') }}

    where {{ ga4_shards_since(first_day) }}

),

-- Struct fields (ecommerce.transaction_id) read like qualified columns to the linter:
-- noqa: disable=RF03
flattened as (

    select
        user_pseudo_id,
        {{ ga4_event_param('ga_session_id', 'int') }} as ga_session_id,
        nullif(nullif(ecommerce.transaction_id, ''), '(not set)') as transaction_id,
        event_name,
        nullif({{ ga4_event_param('source') }}, '') as source,
        nullif({{ ga4_event_param('medium') }}, '') as medium,
        nullif({{ ga4_event_param('campaign') }}, '') as campaign,
        nullif({{ ga4_event_param('page_location') }}, '') as page_location,
        nullif(device.category, '') as device_category,
        nullif(geo.country, '') as country,
        cast(ecommerce.purchase_revenue as {{ dbt.type_numeric() }}) as purchase_revenue,
        event_timestamp

    from export_events

),
-- noqa: enable=RF03

events as (

    select
        {{ dbt.concat(["'ga4-'", dbt.hash(dbt.concat([
            'user_pseudo_id', "'|'",
            'cast(event_timestamp as ' ~ dbt.type_string() ~ ')', "'|'",
            'event_name', "'|'",
            'cast(ga_session_id as ' ~ dbt.type_string() ~ ')',
        ]))]) }} as event_id,
        *

    from flattened

    -- Attribution needs sessions: events without a user or a session id cannot be placed in one.
    where user_pseudo_id is not null and ga_session_id is not null

),

numbered as (

    select
        *,
        row_number() over (partition by event_id order by event_timestamp) as copy_number

    from events

),

renamed as (

    select

        ---------- ids
        event_id,
        user_pseudo_id,
        ga_session_id,
        transaction_id,

        ---------- text
        event_name,
        source,
        medium,
        campaign,
        page_location,
        device_category,
        country,

        ---------- numerics
        purchase_revenue,

        ---------- timestamps
        event_timestamp,
        {{ timestamp_from_micros('event_timestamp') }} as event_at,
        cast({{ timestamp_from_micros('event_timestamp') }} as date) as event_date,
        cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as loaded_at

    from numbered

    -- The export can hold the same event more than once: keep one copy.
    where copy_number = 1

)

select * from renamed

{% if is_incremental() %}
    -- A re-read day only adds the events that are new: loaded ones keep their loaded_at, so
    -- downstream models do not recompute their users again. An event's id fixes its timestamp, so
    -- only the loaded rows of the days re-read can match.
    where event_id not in (
        select loaded.event_id from {{ this }} as loaded
        where {{ event_date_from(first_day) }}
    )
{% endif %}
