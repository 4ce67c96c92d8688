-- Spend that no tracked traffic carries (docs/spend.md): per day and key, the spend on a source /
-- medium / campaign (or campaign id) that no session of that day has, so no attribution model can ever
-- credit it. With the spend mart_channel_performance matches, it adds up to the spend loaded
-- (assert_spend_reconciles).

with

matches as (

    select * from {{ ref('int_spend_matches') }}

),

unmatched as (

    select
        spend_date,
        source,
        medium,
        campaign,
        campaign_id,
        spend,
        clicks,
        impressions,
        spend_origin,
        spend_file,
        unmatched_reason as reason

    from matches

    where unmatched_reason is not null

)

select * from unmatched
