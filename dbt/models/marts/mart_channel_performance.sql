-- What each channel and campaign cost and returned under each attribution model (docs/spend.md): per
-- day x channel group x source x medium x campaign x model, the spend matched to traffic and the
-- conversions and revenue the model attributes to it, with ROAS (revenue / spend) and CPA (spend /
-- conversions), null where undefined. Spend is matched on the day's sessions (int_spend_matches: by
-- campaign id first, else by name, case-insensitively); what matches none is in mart_unmatched_spend.
-- Attributed figures are counted on the conversion's day, spend on its own day, as GA4 reports both.
-- Source, medium and campaign are shown as the traffic spells them (else as the spend does).

{%- set models = var('attribution_models') %}

with

credits as (

    select * from {{ ref('mart_attribution_credits') }}

),

matches as (

    select * from {{ ref('int_spend_matches') }}

),

source_categories as (

    select * from {{ ref('ga4_source_categories') }}

),

-- The spend int_spend_matches matched to the day's sessions, per key.
matched_spend as (

    select
        spend_date as performance_date,
        source_key,
        medium_key,
        campaign_key,
        min(source) as source,
        min(medium) as medium,
        min(campaign) as campaign,
        sum(spend) as spend,
        sum(clicks) as clicks,
        sum(impressions) as impressions

    from matches

    where matched_by is not null

    group by spend_date, source_key, medium_key, campaign_key

),

-- Every model has the spend: ROAS is compared across models on the same money.
modelled_spend as (

    {%- for model in models %}

        select '{{ model }}' as attribution_model, matched_spend.* from matched_spend
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

attributed as (

    select
        conversion_date as performance_date,
        attribution_model,
        channel_group,
        {{ spend_key('source') }} as source_key,
        {{ spend_key('medium') }} as medium_key,
        {{ spend_key('campaign') }} as campaign_key,
        min(source) as source,
        min(medium) as medium,
        min(campaign) as campaign,
        sum(credit) as conversions,
        sum(attributed_revenue) as revenue

    from credits

    group by
        conversion_date,
        attribution_model,
        channel_group,
        {{ spend_key('source') }},
        {{ spend_key('medium') }},
        {{ spend_key('campaign') }}

),

joined as (

    select
        coalesce(attributed.performance_date, modelled_spend.performance_date) as performance_date,
        coalesce(attributed.attribution_model, modelled_spend.attribution_model) as attribution_model,
        attributed.channel_group as attributed_channel_group,
        coalesce(attributed.source, modelled_spend.source) as source,
        coalesce(attributed.medium, modelled_spend.medium) as medium,
        coalesce(attributed.campaign, modelled_spend.campaign) as campaign,
        coalesce(modelled_spend.spend, 0) as spend,
        modelled_spend.clicks,
        modelled_spend.impressions,
        coalesce(attributed.conversions, 0) as conversions,
        coalesce(attributed.revenue, 0) as revenue

    from attributed

    full outer join modelled_spend
        on
            attributed.performance_date = modelled_spend.performance_date
            and attributed.attribution_model = modelled_spend.attribution_model
            and attributed.source_key = modelled_spend.source_key
            and attributed.medium_key = modelled_spend.medium_key
            and attributed.campaign_key = modelled_spend.campaign_key

),

performance as (

    select
        joined.performance_date,
        joined.attribution_model,
        -- A key's channel group is a function of it (default_channel_group): spend without attributed
        -- conversions gets the one its sessions have.
        coalesce(
            joined.attributed_channel_group,
            {{ default_channel_group(
                'joined.source', 'joined.medium', 'joined.campaign', 'source_categories.source_category'
            ) }}
        ) as channel_group,
        joined.source,
        joined.medium,
        joined.campaign,
        joined.spend,
        joined.clicks,
        joined.impressions,
        joined.conversions,
        joined.revenue,
        case when joined.spend > 0 then joined.revenue / joined.spend end as roas,
        case when joined.conversions > 0 then joined.spend / joined.conversions end as cpa

    from joined

    left join source_categories  -- noqa: ST11
        on {{ spend_key("joined.source") }} = source_categories.source

)

select * from performance
