-- The data-driven model's removal effects (README: data-driven attribution), one row per channel group
-- on a path. The chain of int_channel_transitions is solved (macro markov_conversion_probabilities):
-- its conversion probability is the probability of absorption in (conversion) from (start); a chain
-- state's removal effect is 1 − P(conversion with every transition into the state sent to (null)) /
-- P(conversion). A channel group has its chain state's: its own, or (pooled)'s (macro channel_states).

with recursive

probabilities as (

    select
        from_state,
        to_state,
        p

    from {{ ref('int_channel_transitions') }}

),

{{ markov_conversion_probabilities('probabilities') }},

removal_effects as (

    select
        removals.removed_state as chain_state,
        removals.conversion_probability as conversion_probability_without,
        whole_chain.conversion_probability,
        1 - removals.conversion_probability / nullif(whole_chain.conversion_probability, 0) as removal_effect

    from conversion_probabilities as removals

    cross join conversion_probabilities as whole_chain

    where
        whole_chain.removed_state = '(no removal)'
        and removals.removed_state != '(no removal)'

),

transitions as (

    select
        path_id,
        is_converting,
        to_state

    from {{ ref('int_channel_paths') }}

),

channel_states as (

    {{ channel_states('transitions') }}

),

paths_per_chain_state as (

    select
        channel_states.chain_state,
        count(distinct transitions.path_id) as chain_state_paths,
        count(distinct case when transitions.is_converting then transitions.path_id end) as chain_state_converting_paths

    from transitions

    inner join channel_states
        on transitions.to_state = channel_states.channel_group

    group by channel_states.chain_state

),

channel_removal_effects as (

    select
        channel_states.channel_group,
        channel_states.chain_state,
        channel_states.paths,
        channel_states.converting_paths,
        paths_per_chain_state.chain_state_paths,
        paths_per_chain_state.chain_state_converting_paths,
        removal_effects.removal_effect,
        removal_effects.conversion_probability,
        removal_effects.conversion_probability_without

    from channel_states

    inner join removal_effects
        on channel_states.chain_state = removal_effects.chain_state

    inner join paths_per_chain_state
        on channel_states.chain_state = paths_per_chain_state.chain_state

)

select * from channel_removal_effects
