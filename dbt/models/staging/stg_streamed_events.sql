-- Streamed CSV events as loaded, renamed into the project's event vocabulary: one shape that
-- int_events can union with GA4 history. Empty strings become null; the timestamp gains a typed twin.

with

source as (

    select * from {{ source('raw', 'streamed_events') }}

),

renamed as (

    select

        ---------- ids
        event_id,
        user_pseudo_id,
        ga_session_id,
        nullif(transaction_id, '') as transaction_id,

        ---------- text
        event_name,
        nullif(source, '') as source,
        nullif(medium, '') as medium,
        nullif(campaign, '') as campaign,
        nullif(page_location, '') as page_location,
        nullif(device_category, '') as device_category,
        nullif(country, '') as country,
        _batch_file as file_name,

        ---------- numerics
        purchase_revenue,

        ---------- timestamps
        event_timestamp,
        {{ timestamp_from_micros('event_timestamp') }} as event_at,
        event_date,
        _loaded_at as loaded_at

    from source

)

select * from renamed
