-- Every conversion gets, in every attribution model, credits that sum to 1 and attributed revenue that
-- sums to its revenue (README: attribution rules). Returns the conversion × model pairs that break this, including
-- conversions a model left out entirely.

with

conversions as (

    select * from {{ ref('int_conversions') }}

),

credits as (

    select * from {{ ref('mart_attribution_credits') }}

),

attribution_models as (

    select distinct attribution_model from credits

),

expected as (

    select
        conversions.conversion_id,
        conversions.revenue,
        attribution_models.attribution_model

    from conversions

    cross join attribution_models

),

credited as (

    select
        conversion_id,
        attribution_model,
        sum(credit) as total_credit,
        sum(attributed_revenue) as total_attributed_revenue

    from credits

    group by conversion_id, attribution_model

),

reconciled as (

    select
        expected.conversion_id,
        expected.attribution_model,
        expected.revenue,
        credited.total_credit,
        credited.total_attributed_revenue

    from expected

    left join credited
        on
            expected.conversion_id = credited.conversion_id
            and expected.attribution_model = credited.attribution_model

)

select * from reconciled

where
    coalesce(abs(total_credit - 1) > 1e-9, true)
    or coalesce(abs(total_attributed_revenue - revenue) > 1e-9 * greatest(1, abs(revenue)), true)
