-- The data-driven model's removal effects (README: data-driven attribution), one row per channel group
-- on a path. The chain of int_channel_transitions is solved (macro markov_conversion_probabilities):
-- its conversion probability is the probability of absorption in (conversion) from (start); a chain
-- state's removal effect is 1 − P(conversion with every transition into the state sent to (null)) /
-- P(conversion). A channel group has its chain state's (int_channel_states): its own, or (pooled)'s.

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

channel_states as (

    select * from {{ ref('int_channel_states') }}

),

channel_removal_effects as (

    select
        channel_states.channel_group,
        channel_states.chain_state,
        channel_states.paths,
        channel_states.converting_paths,
        channel_states.chain_state_paths,
        channel_states.chain_state_converting_paths,
        removal_effects.removal_effect,
        removal_effects.conversion_probability,
        removal_effects.conversion_probability_without

    from channel_states

    inner join removal_effects
        on channel_states.chain_state = removal_effects.chain_state

)

select * from channel_removal_effects
