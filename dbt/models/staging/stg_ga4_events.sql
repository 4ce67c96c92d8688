-- GA4 export events flattened into the project's event shape (stg_streamed_events' columns, the site's
-- user_id hashed, plus what only an export has: click ids, ignore_referrer, the user's first-touch
-- source on first_visit / first_open, GA4's own session attribution). Every export row is here once,
-- those without a user or a session id too (int_sessions sets them aside, counted; their conversions
-- still count). Newer export fields are read where each table has them (ga4_export_has, decided at
-- compile time).
-- Incremental: the first build reads every export day (from var ga4_first_day if set); later runs read
-- only the last var ga4_reload_days days before the newest one already here, because GA4 rewrites
-- recent daily tables for late hits. Rows are keyed by a hash of what identifies a GA4 event, so a
-- re-read day adds only its new events, and exact duplicate rows in the export collapse. Clustered by
-- loaded_at first: the incremental models downstream look up the rows loaded since their last build
-- (first_new_event_date), which are in the newest blocks.
-- Today: days without daily data are read from GA4's streaming export (events_intraday_YYYYMMDD) as
-- provisional rows, and handed over once the day's daily data appears: the daily rows replace them,
-- and a provisional event the daily data lacks stays as a removed row (docs/incremental.md: the
-- handover). When the load task watches the export, only the changed parts are read
-- (ga4_export_plan).

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='event_id',
        on_schema_change='fail',
        partition_by=date_partitioning('event_date'),
        cluster_by=['loaded_at', 'user_pseudo_id'],
        post_hook="{{ mark_ga4_export_read() }}",
        meta={'merge_prunes_by': 'event_date'},
    )
}}

{%- set plan = ga4_export_plan() %}
{#- The daily data, and the intraday tables of the days without it: (relation, days, provisional).
    A build that reads neither still names the daily source, with a day no shard has: nothing scanned. -#}
{%- set parts = [] %}
{%- if plan.daily_from %}
    {%- do parts.append((source('ga4', 'events'), ga4_shards_since(plan.daily_from), false)) %}
{%- endif %}
{%- for day, relation in plan.intraday %}
    {%- do parts.append((relation, 'true', true)) %}
{%- endfor %}
{%- if not parts %}
    {%- do parts.append((source('ga4', 'events'), ga4_shards_since('99999999'), false)) %}
{%- endif %}
{%- if var('ga4_revenue_field') not in ('purchase_revenue_in_usd', 'purchase_revenue') %}
    {{- exceptions.raise_compiler_error("ga4_revenue_field must be purchase_revenue_in_usd or purchase_revenue") }}
{%- endif %}

with

-- Each part flattened with the optional fields its table has; a day is in one part, never two.
-- Struct fields (ecommerce.transaction_id) read like qualified columns to the linter:
-- noqa: disable=RF03
flattened as (
    {%- for relation, where, is_provisional in parts %}
        {%- set has_collected_traffic_source = ga4_export_has('collected_traffic_source', relation) %}
        {%- set has_session_last_click = ga4_export_has('session_traffic_source_last_click', relation) %}
        {%- set has_ads_campaign = ga4_export_has('session_traffic_source_last_click.google_ads_campaign', relation) %}
        {%- set has_user_id = ga4_export_has('user_id', relation) %}
        {%- set revenue_field = var('ga4_revenue_field') %}
        {%- if not ga4_export_has('ecommerce.' ~ revenue_field, relation) %}
            {%- set revenue_field = 'purchase_revenue' %}
        {%- endif %}
        {%- if not loop.first %}

            union all
        {%- endif %}

        select
            user_pseudo_id,
            -- The site's user id (a logged-in user), hashed: the id itself goes no further.
            {%- if has_user_id %}
                {{ hash_identifier("nullif(user_id, '')") }} as user_key,
            {%- else %}
                cast(null as {{ dbt.type_string() }}) as user_key,
            {%- endif %}
            {{ ga4_event_param('ga_session_id', 'int') }} as ga_session_id,
            nullif(nullif(ecommerce.transaction_id, ''), '(not set)') as transaction_id,
            event_name,
            {%- if has_collected_traffic_source %}
                -- The event's manual campaign data where GA4 collected it, else its event parameters.
                case
                    when nullif(collected_traffic_source.manual_source, '') is not null
                        then nullif(collected_traffic_source.manual_source, '')
                    else nullif({{ ga4_event_param('source') }}, '')
                end as source,
                case
                    when nullif(collected_traffic_source.manual_source, '') is not null
                        then nullif(collected_traffic_source.manual_medium, '')
                    else nullif({{ ga4_event_param('medium') }}, '')
                end as medium,
                case
                    when nullif(collected_traffic_source.manual_source, '') is not null
                        then nullif(collected_traffic_source.manual_campaign_name, '')
                    else nullif({{ ga4_event_param('campaign') }}, '')
                end as campaign,
                case
                    when nullif(collected_traffic_source.manual_source, '') is not null
                        then nullif(collected_traffic_source.manual_campaign_id, '')
                    else nullif({{ ga4_event_param('campaign_id') }}, '')
                end as campaign_id,
            {%- else %}
                nullif({{ ga4_event_param('source') }}, '') as source,
                nullif({{ ga4_event_param('medium') }}, '') as medium,
                nullif({{ ga4_event_param('campaign') }}, '') as campaign,
                nullif({{ ga4_event_param('campaign_id') }}, '') as campaign_id,
            {%- endif %}
            -- The first click id the event carries, in the order of the seed ga4_click_ids; gclid, dclid and
            -- srsltid are in collected_traffic_source too.
            case
                {%- for click_id in ('gclid', 'wbraid', 'gbraid', 'dclid', 'srsltid') %}
                    {%- set collected = has_collected_traffic_source and click_id in ('gclid', 'dclid', 'srsltid') %}
                    when
                        coalesce(
                            {% if collected %}nullif(collected_traffic_source.{{ click_id }}, ''), {% endif -%}
                            nullif({{ ga4_event_param(click_id) }}, '')
                        ) is not null
                        then '{{ click_id }}'
                {%- endfor %}
            end as click_id,
            coalesce(lower({{ ga4_event_param('ignore_referrer') }}) = 'true', false) as ignores_referrer,
            nullif({{ ga4_event_param('page_location') }}, '') as page_location,
            nullif(device.category, '') as device_category,
            nullif(geo.country, '') as country,
            -- Revenue in one currency where the export has it; a row without the field's value (an older
            -- table under the wildcard, a file written before the field) keeps its purchase_revenue.
            cast(coalesce(ecommerce.{{ revenue_field }}, ecommerce.purchase_revenue) as {{ dbt.type_numeric() }})
                as purchase_revenue,
            -- The user's first-touch source, read only on the event that starts the user (docs/ga4.md:
            -- newer exports give traffic_source another meaning on other events).
            case when event_name in ('first_visit', 'first_open') then nullif(traffic_source.source, '') end
                as first_touch_source,
            case when event_name in ('first_visit', 'first_open') then nullif(traffic_source.medium, '') end
                as first_touch_medium,
            case when event_name in ('first_visit', 'first_open') then nullif(traffic_source.name, '') end
                as first_touch_campaign,
            {%- if has_session_last_click %}
                nullif(session_traffic_source_last_click.cross_channel_campaign.default_channel_group, '')
                    as ga4_channel_group,
                nullif(session_traffic_source_last_click.cross_channel_campaign.source, '') as ga4_source,
                nullif(session_traffic_source_last_click.cross_channel_campaign.medium, '') as ga4_medium,
            {%- else %}
            cast(null as {{ dbt.type_string() }}) as ga4_channel_group,
            cast(null as {{ dbt.type_string() }}) as ga4_source,
            cast(null as {{ dbt.type_string() }}) as ga4_medium,
        {%- endif %}
            -- The Google Ads campaign of a session an Ads click started: a click id's event names no
            -- campaign of its own (int_events gives it this one).
            {%- if has_ads_campaign %}
                nullif(session_traffic_source_last_click.google_ads_campaign.campaign_name, '')
                    as google_ads_campaign,
                nullif(session_traffic_source_last_click.google_ads_campaign.campaign_id, '')
                    as google_ads_campaign_id,
            {%- else %}
            cast(null as {{ dbt.type_string() }}) as google_ads_campaign,
            cast(null as {{ dbt.type_string() }}) as google_ads_campaign_id,
        {%- endif %}
            event_timestamp,
            event_date as export_day,
            {{ is_provisional }} as is_provisional

        from {{ relation }}

        where {{ where }}
    {%- endfor %}

),
-- noqa: enable=RF03

events as (

    select
        -- Unchanged for events with a user and a session (ids already loaded keep matching); an event
        -- without a user (consent mode) also hashes its transaction_id, so two orders of the same
        -- instant stay two.
        {{ dbt.concat(["'ga4-'", dbt.hash(dbt.concat([
            "coalesce(user_pseudo_id, '')", "'|'",
            'cast(event_timestamp as ' ~ dbt.type_string() ~ ')', "'|'",
            'event_name', "'|'",
            "coalesce(cast(ga_session_id as " ~ dbt.type_string() ~ "), '')",
            "case when user_pseudo_id is null then " ~ dbt.concat(["'|'", "coalesce(transaction_id, '')"]) ~ " else '' end",
        ]))]) }} as event_id,
        *

    from flattened

),

numbered as (

    select
        *,
        row_number() over (partition by event_id order by event_timestamp) as copy_number,
        count(*) over (partition by event_id) as export_copies

    from events

),

renamed as (

    select

        ---------- ids
        event_id,
        user_pseudo_id,
        user_key,
        ga_session_id,
        transaction_id,

        ---------- text
        event_name,
        source,
        medium,
        campaign,
        campaign_id,
        click_id,
        page_location,
        device_category,
        country,
        first_touch_source,
        first_touch_medium,
        first_touch_campaign,
        ga4_channel_group,
        ga4_source,
        ga4_medium,
        google_ads_campaign,
        google_ads_campaign_id,

        ---------- booleans
        ignores_referrer,

        ---------- numerics
        purchase_revenue,
        export_copies,

        ---------- timestamps
        event_timestamp,
        {{ timestamp_from_micros('event_timestamp') }} as event_at,
        cast({{ timestamp_from_micros('event_timestamp') }} as date) as event_date,
        export_day,
        cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as loaded_at,

        ---------- provenance
        is_provisional,
        false as is_removed

    from numbered

    -- The export can hold the same event more than once: keep one copy (export_copies counts them).
    where copy_number = 1

)

select * from renamed

{% if is_incremental() %}
    -- New events, and events whose row here is provisional (read from an intraday table) or removed
    -- now read from the daily data: the daily row replaces it, its fields (the first-touch source)
    -- included. Loaded events otherwise keep their loaded_at, so downstream models do not recompute
    -- their users. An event's id fixes its day (a UTC event_date is at most a day from the export's).
    where
        event_id not in (
            select loaded.event_id from {{ this }} as loaded
            where
                {{ event_date_from(plan.first_day, days_before=1) }}
                and not loaded.is_removed
                and (not loaded.is_provisional or renamed.is_provisional)
        )
    {%- if plan.handed_over %}

    -- The handover of a day whose daily data appeared: its provisional events the daily data does not
    -- hold are gone (the daily table is the record). Each stays as a removed row loaded now, so the
    -- incremental models downstream forget it (int_removed_events).
        union all

        select
            provisional.* replace (  -- noqa: AM04
                cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as loaded_at,
                true as is_removed
            )

        from {{ this }} as provisional

        where
            provisional.is_provisional
            and not provisional.is_removed
            and provisional.export_day in ('{{ plan.handed_over | join("', '") }}')
            and {{ event_date_from(plan.handed_over[0], days_before=1) }}
            and provisional.event_id not in (select renamed.event_id from renamed)
    {%- endif %}
{% endif %}
