-- The data-driven model's Markov chain (README: data-driven attribution): one row per transition
-- between its states, with its probability, its share of the transitions out of its state. The states
-- are (start), the chain states of the channel groups (int_channel_states: (pooled) for those on few
-- paths), and the absorbing (conversion) and (null).

with transitions as (

    select
        path_id,
        is_converting,
        from_state,
        to_state

    from {{ ref('int_channel_paths') }}

),

channel_states as (

    select
        channel_group,
        chain_state

    from {{ ref('int_channel_states') }}

),

chain_state_transitions as (

    select
        coalesce(from_states.chain_state, transitions.from_state) as from_state,
        coalesce(to_states.chain_state, transitions.to_state) as to_state

    from transitions

    left join channel_states as from_states
        on transitions.from_state = from_states.channel_group

    left join channel_states as to_states
        on transitions.to_state = to_states.channel_group

),

chain_transitions as (

    select
        from_state,
        to_state,
        count(*) as transition_count

    from chain_state_transitions

    group by from_state, to_state

)

select
    from_state,
    to_state,
    transition_count,
    cast(transition_count as {{ type_double() }})
    / sum(cast(transition_count as {{ type_double() }})) over (partition by from_state) as p

from chain_transitions
