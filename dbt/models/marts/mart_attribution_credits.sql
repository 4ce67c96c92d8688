-- Attribution credit per conversion, model and touchpoint (README: attribution rules, marts): the six
-- rule-based models, rebuilt per conversion (int_rule_based_credits), and the data-driven model,
-- recomputed whole on every build because its removal effects are global (int_data_driven_credits).
-- A view: stacking them costs no copy.

{{ config(materialized='view') }}

{%- set columns = [
    'conversion_id', 'user_pseudo_id', 'attribution_model', 'touchpoint_number', 'touchpoint_count',
    'ga_session_id', 'source', 'medium', 'campaign', 'channel_group', 'is_direct', 'revenue', 'credit',
    'attributed_revenue', 'touched_at', 'converted_at', 'conversion_date', 'is_provisional', '_events_loaded_at',
] %}

with

rule_based_credits as (

    select {{ columns | join(', ') }} from {{ ref('int_rule_based_credits') }}

),

data_driven_credits as (

    select {{ columns | join(', ') }} from {{ ref('int_data_driven_credits') }}

),

attribution_credits as (

    select * from rule_based_credits

    union all

    select * from data_driven_credits

)

select * from attribution_credits
