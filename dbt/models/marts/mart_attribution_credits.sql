-- Attribution credit per conversion, model and touchpoint (README: attribution rules, marts). Each attribution model
-- is one CTE naming the touchpoints it credits and how much; they are stacked and joined back to the
-- touchpoints, so a new model is one more CTE in the union. Only touchpoints with credit appear.

with

touchpoints as (

    select * from {{ ref('int_touchpoints') }}

),

-- first_click: the first touchpoint gets all the credit.
first_click as (

    select
        conversion_id,
        touchpoint_number,
        'first_click' as attribution_model,
        1 as credit

    from touchpoints

    where touchpoint_number = 1

),

-- last_click: the last touchpoint gets all the credit.
last_click as (

    select
        conversion_id,
        touchpoint_number,
        'last_click' as attribution_model,
        1 as credit

    from touchpoints

    where touchpoint_number = touchpoint_count

),

credits as (

    select * from first_click
    union all
    select * from last_click

),

attribution_credits as (

    select
        touchpoints.conversion_id,
        touchpoints.user_pseudo_id,
        credits.attribution_model,
        touchpoints.touchpoint_number,
        touchpoints.touchpoint_count,
        touchpoints.ga_session_id,
        touchpoints.source,
        touchpoints.medium,
        touchpoints.campaign,
        touchpoints.channel_group,
        touchpoints.revenue,
        cast(credits.credit as {{ type_double() }}) as credit,
        cast(credits.credit as {{ type_double() }}) * touchpoints.revenue as attributed_revenue,
        touchpoints.touched_at,
        touchpoints.converted_at,
        touchpoints.conversion_date

    from credits

    inner join touchpoints
        on
            credits.conversion_id = touchpoints.conversion_id
            and credits.touchpoint_number = touchpoints.touchpoint_number

)

select * from attribution_credits
