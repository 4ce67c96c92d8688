-- The data-driven model per channel group (README: data-driven attribution): its removal effect, its
-- share of the removal effects, and the conversions and revenue that share gives it. Channel groups
-- pooled for having too few paths appear as one row, (pooled). Conversions without a session to
-- credit appear as (unattributed), without a removal effect, so the rows add up to every conversion.
-- `share` is the mart contract's column name, though SQL lists it as a keyword.

with

removal_effects as (

    select * from {{ ref('int_channel_removal_effects') }}

),

chain_states as (

    select
        chain_state as channel_group,
        max(removal_effect) as removal_effect,
        max(chain_state_paths) as paths,
        max(chain_state_converting_paths) as converting_paths,
        case
            when chain_state = '(pooled)'
                then string_agg(channel_group, ', ' order by channel_group)
        end as pooled_channel_groups

    from removal_effects

    group by chain_state

),

conversion_revenues as (

    select
        conversion_id,
        max(revenue) as revenue,
        max(case when ga_session_id is null then 1 else 0 end) as is_unattributed

    from {{ ref('int_touchpoints') }}

    group by conversion_id

),

conversion_totals as (

    select
        count(case when is_unattributed = 0 then conversion_id end) as attributed_conversions,
        coalesce(sum(case when is_unattributed = 0 then revenue end), 0) as attributed_revenue,
        count(case when is_unattributed = 1 then conversion_id end) as unattributed_conversions,
        coalesce(sum(case when is_unattributed = 1 then revenue end), 0) as unattributed_revenue

    from conversion_revenues

),

shares as (

    select
        *,
        removal_effect / nullif(sum(removal_effect) over (), 0) as share  -- noqa: RF04

    from chain_states

),

channel_removal_effects as (

    select
        shares.channel_group,
        shares.removal_effect,
        shares.share,
        -- No path converts: no removal effect, nothing to share.
        coalesce(shares.share * conversion_totals.attributed_conversions, 0) as conversions,
        coalesce(shares.share * conversion_totals.attributed_revenue, 0) as revenue,
        shares.paths,
        shares.converting_paths,
        shares.pooled_channel_groups

    from shares

    cross join conversion_totals

    union all

    select
        '(unattributed)' as channel_group,
        cast(null as {{ type_double() }}) as removal_effect,
        cast(null as {{ type_double() }}) as share,  -- noqa: RF04
        cast(unattributed_conversions as {{ type_double() }}) as conversions,
        unattributed_revenue as revenue,
        cast(null as {{ dbt.type_bigint() }}) as paths,
        cast(null as {{ dbt.type_bigint() }}) as converting_paths,
        cast(null as {{ dbt.type_string() }}) as pooled_channel_groups

    from conversion_totals

    where unattributed_conversions > 0

)

select * from channel_removal_effects
