-- last_click attribution, one row per conversion: the last touchpoint (latest qualifying session)
-- with its traffic source and the full revenue, for consumers that want one channel per conversion.
-- Read from the rule-based credits mart_attribution_credits shows, so the two always agree.

{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='conversion_id',
        on_schema_change='fail',
        pre_hook="{{ forget_removed_events('vanished conversion') }}",
    )
}}

-- The pre_hook reads these (forget_removed_events).
-- depends_on: {{ ref('int_removed_events') }}
-- depends_on: {{ ref('int_conversions') }}

with

-- Incremental: the conversions whose credits were rebuilt since this model's last build (every
-- conversion always has exactly one row here).
credits as (

    select * from {{ ref('int_rule_based_credits') }}

    where {{ rebuilt_since_watermark(is_incremental()) }}

),

last_click as (

    select
        conversion_id,
        user_pseudo_id,
        ga_session_id,
        source,
        medium,
        campaign,
        channel_group,
        revenue,
        touched_at,
        converted_at,
        conversion_date,
        is_provisional,
        _events_loaded_at

    from credits

    where attribution_model = 'last_click'

)

select * from last_click
