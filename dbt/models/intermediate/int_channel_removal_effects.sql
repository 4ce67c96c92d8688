-- The data-driven model's removal effects (README: data-driven attribution), one row per channel group
-- on a path. A first-order Markov chain over the paths of int_channel_paths: the probability of each
-- transition is its share of the transitions out of its state. Its conversion probability is the
-- probability of absorption in (conversion) from (start); a channel's removal effect is
-- 1 − P(conversion with every transition into the channel sent to (null)) / P(conversion).
--
-- Solved exactly, by state elimination (the stochastic complement, as in Grassmann–Taksar–Heyman):
-- eliminating a state s replaces each pair of transitions i → s → j by i → j, adding
-- p(i, s) · p(s, j) / (1 − p(s, s)) to p(i, j), where 1 − p(s, s) is summed from s's other
-- transitions, so nothing is subtracted. Once every channel state is eliminated, (start) leads straight to (conversion)
-- or (null): p((start), (conversion)) is the conversion probability. One recursion step per channel
-- state, in every removal scenario at once: about twenty steps, far below BigQuery's recursion cap.
-- The matrix of each scenario travels as an array of (from_state, to_state, p), because BigQuery allows
-- no aggregate in a query that reads the recursive relation itself, only in subqueries of its arrays;
-- `select entry from (...) as entry` makes each row of such a subquery one struct of the array.
--
-- Channel groups on fewer than var data_driven_min_paths paths share one state, (pooled).

{%- set min_paths = var('data_driven_min_paths') | int %}

with recursive

transitions as (

    select
        path_id,
        is_converting,
        from_state,
        to_state

    from {{ ref('int_channel_paths') }}

),

channel_groups as (

    select
        to_state as channel_group,
        count(distinct path_id) as paths,
        count(distinct case when is_converting then path_id end) as converting_paths

    from transitions

    where to_state not in ('(conversion)', '(null)')

    group by to_state

),

chain_states as (

    select
        channel_group,
        paths,
        converting_paths,
        case when paths < {{ min_paths }} then '(pooled)' else channel_group end as chain_state

    from channel_groups

),

chain_state_transitions as (

    select
        coalesce(from_states.chain_state, transitions.from_state) as from_state,
        coalesce(to_states.chain_state, transitions.to_state) as to_state

    from transitions

    left join chain_states as from_states
        on transitions.from_state = from_states.channel_group

    left join chain_states as to_states
        on transitions.to_state = to_states.channel_group

),

chain_transitions as (

    select
        from_state,
        to_state,
        cast(count(*) as {{ type_double() }}) as transition_count

    from chain_state_transitions

    group by from_state, to_state

),

probabilities as (

    select
        from_state,
        to_state,
        transition_count / sum(transition_count) over (partition by from_state) as p

    from chain_transitions

),

-- The states to eliminate, numbered: every channel state ((start) is where the walk begins; the
-- absorbing states have no transitions out).
eliminated_states as (

    select
        chain_state,
        row_number() over (order by chain_state) as elimination_number

    from (select distinct chain_state from chain_states) as states

),

-- The chain as it is, and once per chain state with that state removed.
scenarios as (

    select '(no removal)' as removed_state

    union all

    select chain_state as removed_state

    from eliminated_states

),

redirected_probabilities as (

    select
        scenarios.removed_state,
        probabilities.from_state,
        case
            when probabilities.to_state = scenarios.removed_state then '(null)'
            else probabilities.to_state
        end as to_state,
        probabilities.p

    from scenarios

    cross join probabilities

    where probabilities.from_state != scenarios.removed_state

),

scenario_probabilities as (

    select
        removed_state,
        from_state,
        to_state,
        sum(p) as p

    from redirected_probabilities

    group by removed_state, from_state, to_state

),

elimination as (

    select
        scenarios.removed_state,
        0 as eliminated,
        array(
            select entry  -- noqa: RF02
            from (
                select
                    scenario_probabilities.from_state,
                    scenario_probabilities.to_state,
                    scenario_probabilities.p
                from scenario_probabilities
                where scenario_probabilities.removed_state = scenarios.removed_state
            ) as entry
        ) as matrix

    from scenarios

    union all

    select
        elimination.removed_state,
        elimination.eliminated + 1 as eliminated,
        array(
            select entry  -- noqa: RF02
            from (
                select
                    kept.from_state,
                    kept.to_state,
                    sum(kept.p) as p
                from (
                    select
                        other.from_state,
                        other.to_state,
                        other.p
                    from unnest(elimination.matrix) as other
                    where
                        other.from_state != eliminated_states.chain_state
                        and other.to_state != eliminated_states.chain_state

                    union all

                    select
                        into_state.from_state,
                        out_of_state.to_state,
                        into_state.p * out_of_state.p / (
                            select sum(leaving.p)
                            from unnest(elimination.matrix) as leaving
                            where
                                leaving.from_state = eliminated_states.chain_state
                                and leaving.to_state != eliminated_states.chain_state
                        ) as p
                    from unnest(elimination.matrix) as into_state
                    inner join unnest(elimination.matrix) as out_of_state
                        on
                            into_state.to_state = eliminated_states.chain_state
                            and out_of_state.from_state = eliminated_states.chain_state
                    where
                        into_state.from_state != eliminated_states.chain_state
                        and out_of_state.to_state != eliminated_states.chain_state
                ) as kept
                group by kept.from_state, kept.to_state
            ) as entry
        ) as matrix

    from elimination

    inner join eliminated_states
        on eliminated_states.elimination_number = elimination.eliminated + 1

),

conversion_probabilities as (

    select
        elimination.removed_state,
        coalesce((
            select sum(solved.p)
            from unnest(elimination.matrix) as solved
            where solved.from_state = '(start)' and solved.to_state = '(conversion)'
        ), 0) as conversion_probability

    from elimination

    where elimination.eliminated = (select count(*) from eliminated_states)

),

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

paths_per_chain_state as (

    select
        chain_states.chain_state,
        count(distinct transitions.path_id) as chain_state_paths,
        count(distinct case when transitions.is_converting then transitions.path_id end) as chain_state_converting_paths

    from transitions

    inner join chain_states
        on transitions.to_state = chain_states.channel_group

    group by chain_states.chain_state

),

channel_removal_effects as (

    select
        chain_states.channel_group,
        chain_states.chain_state,
        chain_states.paths,
        chain_states.converting_paths,
        paths_per_chain_state.chain_state_paths,
        paths_per_chain_state.chain_state_converting_paths,
        removal_effects.removal_effect,
        removal_effects.conversion_probability,
        removal_effects.conversion_probability_without

    from chain_states

    inner join removal_effects
        on chain_states.chain_state = removal_effects.chain_state

    inner join paths_per_chain_state
        on chain_states.chain_state = paths_per_chain_state.chain_state

)

select * from channel_removal_effects
