-- Each spend row matched to the sessions of its day (docs/spend.md: matching spend to traffic). A row
-- with a campaign id (utm_id) meets the day's sessions that carry that id with its source and medium,
-- and takes their campaign name (a campaign renamed in the ad platform still matches); any other row,
-- or one whose id no session carries, meets the sessions with its source, medium and campaign name.
-- Compared case-insensitively (spend_key). matched_by says how; a row that meets no session has an
-- unmatched_reason instead (mart_unmatched_spend). Spend the Google Ads transfer replaced is left out.

with

spend_rows as (

    select * from {{ ref('stg_ad_spend') }}

    where replaced_by is null

),

sessions as (

    select
        session_date,
        campaign_id,
        {{ spend_key('source') }} as source_key,
        {{ spend_key('medium') }} as medium_key,
        {{ spend_key('campaign') }} as campaign_key

    from {{ ref('int_sessions') }}

),

session_keys as (

    select distinct
        session_date,
        source_key,
        medium_key,
        campaign_key

    from sessions

),

-- The campaign name the day's sessions give a campaign id (the first, should they give several).
id_names as (

    select
        session_date,
        source_key,
        medium_key,
        campaign_id,
        min(campaign_key) as campaign_key

    from sessions

    where campaign_id is not null

    group by session_date, source_key, medium_key, campaign_id

),

session_days as (

    select distinct session_date from sessions

),

keys_ever_seen as (

    select distinct
        source_key,
        medium_key,
        campaign_key

    from session_keys

),

resolved as (

    select
        spend_rows.*,
        {{ spend_key('spend_rows.source') }} as source_key,
        {{ spend_key('spend_rows.medium') }} as medium_key,
        coalesce(id_names.campaign_key, {{ spend_key('spend_rows.campaign') }}) as campaign_key,
        id_names.campaign_key is not null as matched_by_id

    from spend_rows

    left join id_names
        on
            spend_rows.spend_date = id_names.session_date
            and {{ spend_key('spend_rows.source') }} = id_names.source_key
            and {{ spend_key('spend_rows.medium') }} = id_names.medium_key
            and spend_rows.campaign_id = id_names.campaign_id

),

matches as (

    select
        resolved.spend_date,
        resolved.source,
        resolved.medium,
        resolved.campaign,
        resolved.campaign_id,
        resolved.cost as spend,
        resolved.clicks,
        resolved.impressions,
        resolved.spend_origin,
        resolved.spend_file,
        resolved.source_key,
        resolved.medium_key,
        resolved.campaign_key,
        case
            when resolved.matched_by_id then 'campaign id'
            when session_keys.session_date is not null then 'campaign name'
        end as matched_by,
        case
            when resolved.matched_by_id or session_keys.session_date is not null then null
            when session_days.session_date is null then 'no session at all on this day'
            when keys_ever_seen.source_key is not null
                then 'sessions carry this source / medium / campaign on other days only'
            else 'no session carries this source / medium / campaign'
        end as unmatched_reason

    from resolved

    left join session_keys
        on
            resolved.spend_date = session_keys.session_date
            and resolved.source_key = session_keys.source_key
            and resolved.medium_key = session_keys.medium_key
            and resolved.campaign_key = session_keys.campaign_key

    left join session_days
        on resolved.spend_date = session_days.session_date

    left join keys_ever_seen
        on
            resolved.source_key = keys_ever_seen.source_key
            and resolved.medium_key = keys_ever_seen.medium_key
            and resolved.campaign_key = keys_ever_seen.campaign_key

)

select * from matches
