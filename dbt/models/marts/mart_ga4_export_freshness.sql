-- How far the GA4 export reaches (the dashboard's health row, beside the stream's newest event): its
-- newest day and event, and whether that day is still provisional (intraday). One row once any export
-- row is staged. Incremental over the rows staged since its last build (stg_ga4_events is clustered by
-- loaded_at), so a build reads only those, never the whole export.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='origin',
        on_schema_change='fail',
    )
}}

{%- set since_last_build = "(select max(built.loaded_through) from " ~ this ~ " as built)" if is_incremental()
    else "cast('1970-01-01' as " ~ dbt.type_timestamp() ~ ")" %}

with

staged as (

    select * from {{ ref('stg_ga4_events') }}

    where
        not is_removed
        and loaded_at > {{ since_last_build }}

),

newest as (

    select
        max(export_day) as newest_export_day,
        max(event_at) as newest_event_at,
        max(loaded_at) as loaded_through

    from staged

    having count(*) > 0

),

-- What an earlier build found: the newest of the two wins.
previous as (

    {%- if is_incremental() %}

        select
            newest_export_day,
            newest_event_at

        from {{ this }}
    {%- else %}

        select
            cast(null as {{ dbt.type_string() }}) as newest_export_day,
            cast(null as {{ dbt.type_timestamp() }}) as newest_event_at
    {%- endif %}

),

freshness as (

    select
        'ga4_export' as origin,
        case
            when previous.newest_export_day is null or newest.newest_export_day > previous.newest_export_day
                then newest.newest_export_day
            else previous.newest_export_day
        end as newest_export_day,
        case
            when previous.newest_event_at is null or newest.newest_event_at > previous.newest_event_at
                then newest.newest_event_at
            else previous.newest_event_at
        end as newest_event_at,
        newest.loaded_through

    from newest

    left join previous
        on true

)

select * from freshness
