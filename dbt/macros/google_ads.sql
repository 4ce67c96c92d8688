{#- The Google Ads Data Transfer's daily campaign cost (docs/spend.md), one select per customer id, as
    spend of source google / medium cpc: the source and medium GA4 gives a Google Ads click
    (seed ga4_click_ids). Tables as Google documents them
    (https://cloud.google.com/bigquery/docs/google-ads-transformation):
    `ads_CampaignBasicStats_<customer_id>` has a row per day (`segments_date`), campaign and segment
    (network, device, slot), with `metrics_cost_micros` (the account's currency, millionths),
    `metrics_clicks` and `metrics_impressions`; `ads_Campaign_<customer_id>` holds one snapshot of each
    campaign per transfer day (`_DATA_DATE`), the names of today's in the rows where `_DATA_DATE =
    _LATEST_DATE`. Set by ATTRIBUTION_GOOGLE_ADS_DATASET (`project.dataset`) and
    ATTRIBUTION_GOOGLE_ADS_CUSTOMER_IDS; none when they are unset, and never on DuckDB. -#}
{% macro google_ads_spend() %}
    {#- Unit tests give stg_ad_spend's inputs as fixtures: the transfer's tables are not among them. -#}
    {%- set unit_test = model is not none and model.resource_type == 'unit_test' -%}
    {%- set dataset = env_var('ATTRIBUTION_GOOGLE_ADS_DATASET', '') if target.type == 'bigquery' and not unit_test
        else '' -%}
    {%- set customers = env_var('ATTRIBUTION_GOOGLE_ADS_CUSTOMER_IDS', '').split(',')
        | map('trim') | reject('equalto', '') | list -%}
    {%- if not dataset or not customers -%}
        {{- return([]) -}}
    {%- endif -%}
    {%- set project, schema = dataset.split('.', 1) -%}
    {%- set selects = [] -%}
    {%- for customer in customers -%}
        {%- set stats = api.Relation.create(
            database=project, schema=schema, identifier='ads_CampaignBasicStats_' ~ customer) -%}
        {%- set campaigns = api.Relation.create(
            database=project, schema=schema, identifier='ads_Campaign_' ~ customer) -%}
        {%- do selects.append(
            "select stats.segments_date as spend_date, 'google' as source, 'cpc' as medium,"
            ~ " coalesce(campaigns.campaign_name, cast(stats.campaign_id as string)) as campaign,"
            ~ " cast(stats.campaign_id as string) as campaign_id,"
            ~ " cast(sum(stats.metrics_cost_micros) as numeric) / 1000000 as cost,"
            ~ " sum(stats.metrics_clicks) as clicks, sum(stats.metrics_impressions) as impressions,"
            ~ " 'google_ads' as spend_origin, 'google_ads:" ~ customer ~ "' as spend_file"
            ~ " from " ~ stats ~ " as stats"
            ~ " left join (select campaign_id, any_value(campaign_name) as campaign_name from " ~ campaigns
            ~ " where _DATA_DATE = _LATEST_DATE group by campaign_id) as campaigns"
            ~ " on stats.campaign_id = campaigns.campaign_id"
            ~ " group by stats.segments_date, campaigns.campaign_name, stats.campaign_id"
        ) -%}
    {%- endfor -%}
    {{- return(selects) -}}
{% endmacro %}
