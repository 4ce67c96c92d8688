-- Attribution credit of the six rule-based models per conversion, model and touchpoint (README:
-- attribution rules); mart_attribution_credits adds the data-driven model. Each model is one CTE naming
-- the touchpoints it credits and how much; they are stacked and joined back to the touchpoints, so a new
-- rule is one more CTE in the union. Only touchpoints with credit appear.

{%- set first_weight = var('position_based_first_weight') | float %}
{%- set last_weight = var('position_based_last_weight') | float %}
{%- set half_life_micros = var('time_decay_half_life_days') | float * 86400000000 %}
{%- set middle_share = (1 - first_weight - last_weight) | round(12) %}
{%- if first_weight < 0 or last_weight < 0 or first_weight + last_weight > 1 %}
    {{- exceptions.raise_compiler_error('position_based weights must be >= 0 and sum to at most 1') }}
{%- endif %}
{%- if half_life_micros <= 0 %}
    {{- exceptions.raise_compiler_error('time_decay_half_life_days must be > 0') }}
{%- endif %}

{{
    config(
        materialized='incremental',
        on_schema_change='fail',
        pre_hook="{{ forget_removed_events('vanished conversion') }}",
        **rebuild_rows_by('conversion_id'),
    )
}}

-- The pre_hook reads these (forget_removed_events).
-- depends_on: {{ ref('int_removed_events') }}
-- depends_on: {{ ref('int_conversions') }}

with

-- Incremental: the credits of the conversions whose touchpoints were rebuilt since this model's last
-- build, rebuilt whole (a conversion's touchpoints are always rebuilt together).
touchpoints as (

    select * from {{ ref('int_touchpoints') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

),

-- first_click: the first touchpoint gets all the credit.
first_click as (

    select
        conversion_id,
        touchpoint_number,
        'first_click' as attribution_model,
        cast(1 as {{ type_double() }}) as credit

    from touchpoints

    where touchpoint_number = 1

),

-- last_click: the last touchpoint gets all the credit.
last_click as (

    select
        conversion_id,
        touchpoint_number,
        'last_click' as attribution_model,
        cast(1 as {{ type_double() }}) as credit

    from touchpoints

    where touchpoint_number = touchpoint_count

),

-- last_non_direct_click: the last touchpoint that is not direct gets all the credit; all direct → the last.
last_non_direct_click as (

    select
        conversion_id,
        coalesce(
            max(case when not is_direct then touchpoint_number end),
            max(touchpoint_count)
        ) as touchpoint_number,
        'last_non_direct_click' as attribution_model,
        cast(1 as {{ type_double() }}) as credit

    from touchpoints

    group by conversion_id

),

-- linear: each of n touchpoints gets 1/n.
linear as (

    select
        conversion_id,
        touchpoint_number,
        'linear' as attribution_model,
        cast(1 as {{ type_double() }}) / touchpoint_count as credit

    from touchpoints

),

-- position_based: one touchpoint gets 1, two get half each; from three on the first and the last get
-- their weights (var position_based_first_weight / _last_weight) and the middle ones share the rest.
position_based as (

    select
        conversion_id,
        touchpoint_number,
        'position_based' as attribution_model,
        case
            when touchpoint_count = 1 then cast(1 as {{ type_double() }})
            when touchpoint_count = 2 then cast(0.5 as {{ type_double() }})
            when touchpoint_number = 1 then cast({{ first_weight }} as {{ type_double() }})
            when touchpoint_number = touchpoint_count then cast({{ last_weight }} as {{ type_double() }})
            else cast({{ middle_share }} as {{ type_double() }}) / (touchpoint_count - 2)
        end as credit

    from touchpoints

),

-- time_decay: weight 2^(-age / half-life), age = conversion time - session start; normalised per conversion.
-- An (unattributed) conversion's one touchpoint has no session: age 0.
time_decay_weights as (

    select
        conversion_id,
        touchpoint_number,
        power(
            cast(2 as {{ type_double() }}),
            -cast(converted_at_micros - coalesce(touched_at_micros, converted_at_micros) as {{ type_double() }})
            / {{ half_life_micros }}
        ) as weight

    from touchpoints

),

time_decay as (

    select
        conversion_id,
        touchpoint_number,
        'time_decay' as attribution_model,
        weight / sum(weight) over (partition by conversion_id) as credit

    from time_decay_weights

),

credits as (

    select * from first_click
    union all
    select * from last_click
    union all
    select * from last_non_direct_click
    union all
    select * from linear
    union all
    select * from position_based
    union all
    select * from time_decay

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
        touchpoints.is_direct,
        touchpoints.revenue,
        credits.credit,
        credits.credit * touchpoints.revenue as attributed_revenue,
        touchpoints.touched_at,
        touchpoints.converted_at,
        touchpoints.conversion_date,
        touchpoints.is_provisional,
        touchpoints._events_loaded_at

    from credits

    inner join touchpoints
        on
            credits.conversion_id = touchpoints.conversion_id
            and credits.touchpoint_number = touchpoints.touchpoint_number

)

select * from attribution_credits
