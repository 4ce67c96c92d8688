-- Per day and attribution model, the spend mart_channel_performance matches plus the spend
-- mart_unmatched_spend holds equals the spend loaded (stg_ad_spend, less what the Google Ads transfer
-- replaced): no spend is lost or doubled by the matching. Returns the days and models where it differs.
-- In the hourly data-quality DAG (var whole_table_tests), the spend loaded is what the last build read
-- (int_spend_matches: every spend row once): that DAG may run between a pipeline run's load and its
-- build, when stg_ad_spend already holds a cost file the marts have not seen. A run's own build sees
-- every load, so there the test reads stg_ad_spend.

{%- set models = var('attribution_models') %}

with

loaded as (

    select
        spend_date,
        {%- if var('whole_table_tests', false) %}
            sum(spend) as spend
        from {{ ref('int_spend_matches') }}
        {%- else %}
            sum(cost) as spend
        from {{ ref('stg_ad_spend') }}
        where replaced_by is null
        {%- endif %}
    group by spend_date

),

unmatched as (

    select
        spend_date,
        sum(spend) as spend
    from {{ ref('mart_unmatched_spend') }}
    group by spend_date

),

matched as (

    select
        performance_date as spend_date,
        attribution_model,
        sum(spend) as spend
    from {{ ref('mart_channel_performance') }}
    group by performance_date, attribution_model

),

expected as (

    {%- for model in models %}

        select '{{ model }}' as attribution_model, spend_date, spend from loaded
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

compared as (

    select
        coalesce(expected.spend_date, matched.spend_date) as spend_date,
        coalesce(expected.attribution_model, matched.attribution_model) as attribution_model,
        coalesce(expected.spend, 0) as spend_loaded,
        coalesce(matched.spend, 0) as spend_matched,
        coalesce(unmatched.spend, 0) as spend_unmatched

    from expected

    full outer join matched
        on expected.spend_date = matched.spend_date and expected.attribution_model = matched.attribution_model

    left join unmatched
        on coalesce(expected.spend_date, matched.spend_date) = unmatched.spend_date

)

select * from compared

where abs(spend_matched + spend_unmatched - spend_loaded) > 0.000001
