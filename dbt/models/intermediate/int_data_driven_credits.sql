-- The data-driven model's credits (README: data-driven attribution), in the shape of
-- int_rule_based_credits: each conversion's credit split over its touchpoints in proportion to the
-- removal effects of their channel groups (int_channel_removal_effects). Removal effects are global, so
-- every conversion's credits are recomputed on every build (a table, not incremental).
-- - An (unattributed) touchpoint has no channel on a path: it gets the whole conversion, as in every model.
-- - Touchpoints whose removal effects are all 0 share the conversion equally, as in linear. A channel
--   group on a converting path always has a positive removal effect, so this happens only when
--   floating point rounds one to 0.

with

touchpoints as (

    select * from {{ ref('int_touchpoints') }}

),

removal_effects as (

    select
        channel_group,
        removal_effect

    from {{ ref('int_channel_removal_effects') }}

),

weighted_touchpoints as (

    select
        touchpoints.*,
        coalesce(removal_effects.removal_effect, 0) as weight,
        sum(coalesce(removal_effects.removal_effect, 0)) over (partition by touchpoints.conversion_id) as total_weight

    from touchpoints

    left join removal_effects
        on touchpoints.channel_group = removal_effects.channel_group

),

credits as (

    select
        *,
        case
            when total_weight > 0 then weight / total_weight
            else cast(1 as {{ type_double() }}) / touchpoint_count
        end as credit

    from weighted_touchpoints

),

data_driven_credits as (

    select
        conversion_id,
        user_pseudo_id,
        'data_driven' as attribution_model,
        touchpoint_number,
        touchpoint_count,
        ga_session_id,
        source,
        medium,
        campaign,
        channel_group,
        is_direct,
        revenue,
        credit,
        credit * revenue as attributed_revenue,
        touched_at,
        converted_at,
        conversion_date,
        is_provisional,
        _events_loaded_at

    from credits

    where credit > 0

)

select * from data_driven_credits
