-- Whose journey each device's events belong to, under var reporting_identity (docs/identity.md).
-- blended: a device (user_pseudo_id) seen with the site's user id belongs to the latest user id seen
-- on it, every event of it, before the login and after (Velir's dbt-ga4, stg_ga4__user_id_mapping;
-- a shared device seen with several user ids follows the latest). Its journey_key is that user id's
-- hash (user_key); a device never seen logged in is its own journey and has no row here.
-- device: no rows; every device is its own journey.
-- One current row per logged-in device (is_current), and a former row for every journey a device has
-- left, its own included: the models keyed by journey rebuild every journey a device joined or left
-- since their last build (macro rebuilt_journeys), and forget the journeys left empty.
-- Incremental: only the devices with events loaded (or removed from the GA4 export) since the last
-- build. Their latest user id is the newer of the one stored here and those of the new events; a
-- device that lost events is read whole, since the lost one may have been its latest login.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['user_pseudo_id', 'journey_key'],
        on_schema_change='fail',
        cluster_by=['user_pseudo_id'],
    )
}}

{%- if var('reporting_identity') not in ('device', 'blended') %}
    {{- exceptions.raise_compiler_error(
        "reporting_identity must be device or blended, got " ~ var('reporting_identity')
    ) }}
{%- endif %}
{%- set blended = 'true' if var('reporting_identity') == 'blended' else 'false' %}
{%- set first_new_day = first_new_event_date() %}
{#- Known at compile time, so the common build (nothing removed) reads only the new partitions. -#}
{%- set reads_removed_devices = is_incremental() and removed_since_watermark_exist() %}

with

-- Devices that lost events since the last build: read whole.
removed_devices as (

    select distinct user_pseudo_id

    from {{ removed_since_watermark(is_incremental()) }} as removed

    where user_pseudo_id is not null

),

-- Logged-in events loaded since the last build, and every logged-in event of a device that lost one.
new_logins as (

    select
        user_pseudo_id,
        user_key,
        event_timestamp,
        event_id,
        loaded_at

    from {{ ref('int_events') }}

    where
        {{ blended }}
        and user_key is not null
        and user_pseudo_id is not null
        and (
            {{ loaded_since_watermark(is_incremental(), first_new_day) }}
            {%- if reads_removed_devices %}
                or user_pseudo_id in (select removed_devices.user_pseudo_id from removed_devices)
            {%- endif %}
        )

),

touched_devices as (

    select user_pseudo_id from new_logins

    {% if is_incremental() -%}
        union all

        select user_pseudo_id from removed_devices

        where {{ blended }}
    {%- endif %}

),

-- The newest load this build has seen.
loads as (

    select loaded_at from new_logins

    union all

    select loaded_at from {{ removed_since_watermark(is_incremental()) }} as removed

),

logins as (

    select
        user_pseudo_id,
        user_key,
        event_timestamp as logged_in_at_micros,
        event_id

    from new_logins

    {% if is_incremental() -%}
        union all

        -- The latest login stored, unless the device lost events (then read whole above).
        select
            user_pseudo_id,
            journey_key as user_key,
            logged_in_at_micros,
            login_event_id as event_id

        from {{ this }}

        where
            is_current
            and user_pseudo_id in (select new_logins.user_pseudo_id from new_logins)
            and user_pseudo_id not in (select removed_devices.user_pseudo_id from removed_devices)
    {%- endif %}

),

latest_logins as (

    select
        user_pseudo_id,
        user_key,
        logged_in_at_micros,
        event_id,
        row_number() over (
            partition by user_pseudo_id
            order by logged_in_at_micros desc, event_id desc
        ) as recency

    from logins

),

current_journeys as (

    select
        user_pseudo_id,
        user_key as journey_key,
        true as is_current,
        logged_in_at_micros,
        event_id as login_event_id

    from latest_logins

    where recency = 1

),

-- Every journey the touched devices were in before: their own (left for a user's), and those stored here.
former_journeys as (

    select distinct
        devices.user_pseudo_id,
        devices.journey_key

    from (
        select
            logged_in.user_pseudo_id,
            logged_in.user_pseudo_id as journey_key
        from current_journeys as logged_in

        {% if is_incremental() -%}
            union all

            select
                user_pseudo_id,
                journey_key
            from {{ this }}
            where user_pseudo_id in (select touched_devices.user_pseudo_id from touched_devices)
        {%- endif %}
    ) as devices

    left join current_journeys
        on
            devices.user_pseudo_id = current_journeys.user_pseudo_id
            and devices.journey_key = current_journeys.journey_key

    where current_journeys.user_pseudo_id is null

),

identities as (

    select
        user_pseudo_id,
        journey_key,
        is_current,
        logged_in_at_micros,
        login_event_id,
        (select max(loads.loaded_at) from loads) as _events_loaded_at

    from current_journeys

    union all

    select
        user_pseudo_id,
        journey_key,
        false as is_current,
        cast(null as {{ dbt.type_bigint() }}) as logged_in_at_micros,
        cast(null as {{ dbt.type_string() }}) as login_event_id,
        (select max(loads.loaded_at) from loads) as _events_loaded_at

    from former_journeys

)

select * from identities
