-- The states of the data-driven model's Markov chain (README: data-driven attribution), one row per
-- channel group on a path of int_channel_paths: its state in the chain, itself or (pooled) when it is
-- on fewer than var data_driven_min_paths paths, and the paths through it and through its state.

with transitions as (

    select
        path_id,
        is_converting,
        to_state

    from {{ ref('int_channel_paths') }}

    where to_state not in ('(conversion)', '(null)')

),

channel_groups as (

    select
        to_state as channel_group,
        count(distinct path_id) as paths,
        count(distinct case when is_converting then path_id end) as converting_paths

    from transitions

    group by to_state

),

chain_states as (

    select
        channel_group,
        paths,
        converting_paths,
        case when paths < {{ var('data_driven_min_paths') | int }} then '(pooled)' else channel_group end as chain_state

    from channel_groups

),

-- Paths through a state: a channel group's own, or for (pooled), those through any of its channel
-- groups (counted over their transitions only).
pooled_paths as (

    select
        count(distinct transitions.path_id) as chain_state_paths,
        count(distinct case when transitions.is_converting then transitions.path_id end) as chain_state_converting_paths

    from transitions

    inner join chain_states
        on transitions.to_state = chain_states.channel_group

    where chain_states.chain_state = '(pooled)'

)

select
    chain_states.channel_group,
    chain_states.chain_state,
    chain_states.paths,
    chain_states.converting_paths,
    case
        when chain_states.chain_state = '(pooled)' then pooled_paths.chain_state_paths
        else chain_states.paths
    end as chain_state_paths,
    case
        when chain_states.chain_state = '(pooled)' then pooled_paths.chain_state_converting_paths
        else chain_states.converting_paths
    end as chain_state_converting_paths

from chain_states

cross join pooled_paths
