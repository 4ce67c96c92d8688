-- Daily spend per date x source x medium x campaign (docs/spend.md): the landed cost files' current
-- figures (a later file replaces an earlier one's for the same key, as GA4's cost data import does)
-- and, on BigQuery where configured, the Google Ads Data Transfer's campaign cost (google_ads_spend).
-- Only rows of files with a load_ledger row: a load that died half-way stays invisible until retried.
-- Where both name the same key, the transfer's figures count: they come from the ad platform itself.

with

landed as (

    select * from {{ source('raw', 'ad_spend') }}

),

committed_files as (

    select distinct
        file_name,
        checksum

    from {{ source('raw', 'load_ledger') }}

),

landed_current as (

    select
        landed.date as spend_date,
        landed.utm_source as source,
        landed.utm_medium as medium,
        landed.utm_campaign as campaign,
        nullif(landed.utm_id, '') as campaign_id,
        landed.cost,
        landed.clicks,
        landed.impressions,
        'cost_file' as spend_origin,
        landed._batch_file as spend_file,
        row_number() over (
            partition by landed.date, landed.utm_source, landed.utm_medium, landed.utm_campaign
            order by landed._loaded_at desc, landed._batch_file desc
        ) as newest

    from landed

    inner join committed_files
        on
            landed._batch_file = committed_files.file_name
            and landed._batch_checksum = committed_files.checksum

),

spend as (

    select
        spend_date,
        source,
        medium,
        campaign,
        campaign_id,
        cost,
        clicks,
        impressions,
        spend_origin,
        spend_file

    from landed_current
    where newest = 1

    {%- for google_ads in google_ads_spend() %}

        union all

        {{ google_ads }}
    {%- endfor %}

),

-- A cost file's row for a key the transfer also reports stays here, marked, and counts nowhere.
google_ads_keys as (

    select distinct
        spend_date,
        {{ spend_key('source') }} as source_key,
        {{ spend_key('medium') }} as medium_key,
        {{ spend_key('campaign') }} as campaign_key

    from spend
    where spend_origin = 'google_ads'

)

select
    spend.spend_date,
    spend.source,
    spend.medium,
    spend.campaign,
    spend.campaign_id,
    cast(spend.cost as {{ dbt.type_numeric() }}) as cost,  -- noqa: RF04
    spend.clicks,
    spend.impressions,
    spend.spend_origin,
    spend.spend_file,
    case
        when spend.spend_origin <> 'google_ads' and google_ads_keys.spend_date is not null then 'google_ads'
    end as replaced_by

from spend

left join google_ads_keys
    on
        spend.spend_date = google_ads_keys.spend_date
        and {{ spend_key('spend.source') }} = google_ads_keys.source_key
        and {{ spend_key('spend.medium') }} = google_ads_keys.medium_key
        and {{ spend_key('spend.campaign') }} = google_ads_keys.campaign_key
