-- Streamed CSV events as loaded, renamed into the project's event vocabulary: one shape that
-- int_events can union with GA4 history. Empty strings become null; the timestamp gains a typed twin.
-- Only the events of files the load ledger holds: the loader writes a file's ledger row last, so the
-- events of a load that died half-way stay invisible until its retry completes them, and loaded_at is
-- that commit (the ledger row's loaded_at), the time incremental builds go by.

with

streamed_events as (

    select * from {{ source('raw', 'streamed_events') }}

),

-- The files whose load finished (a file is its name and content), with when it finished.
committed_files as (

    select
        file_name,
        checksum,
        min(loaded_at) as committed_at

    from {{ source('raw', 'load_ledger') }}

    group by file_name, checksum

),

renamed as (

    select

        ---------- ids
        streamed_events.event_id,
        streamed_events.user_pseudo_id,
        -- The site's user id (a logged-in user), hashed: the id itself goes no further.
        {{ hash_identifier("nullif(streamed_events.user_id, '')") }} as user_key,
        streamed_events.ga_session_id,
        nullif(streamed_events.transaction_id, '') as transaction_id,

        ---------- text
        streamed_events.event_name,
        nullif(streamed_events.source, '') as source,
        nullif(streamed_events.medium, '') as medium,
        nullif(streamed_events.campaign, '') as campaign,
        -- The campaign id (utm_id) of the page's URL, as GA4 collects it: the batch has no column for it.
        {{ regex_extract('streamed_events.page_location', '[?&]utm_id=([^&#]+)') }} as campaign_id,
        nullif(streamed_events.page_location, '') as page_location,
        nullif(streamed_events.device_category, '') as device_category,
        nullif(streamed_events.country, '') as country,
        streamed_events._batch_file as file_name,

        ---------- numerics
        streamed_events.purchase_revenue,

        ---------- timestamps
        streamed_events.event_timestamp,
        {{ timestamp_from_micros('streamed_events.event_timestamp') }} as event_at,
        streamed_events.event_date,
        committed_files.committed_at as loaded_at

    from streamed_events

    inner join committed_files
        on
            streamed_events._batch_file = committed_files.file_name
            and streamed_events._batch_checksum = committed_files.checksum

)

select * from renamed
