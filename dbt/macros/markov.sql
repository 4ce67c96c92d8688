{#- The solver of the data-driven model's Markov chain (README: data-driven attribution); the chain itself
    is int_channel_states and int_channel_transitions. -#}

{% macro markov_conversion_probabilities(probabilities) -%}
    {{ return(adapter.dispatch('markov_conversion_probabilities')(probabilities)) }}
{%- endmacro %}

{% macro default__markov_conversion_probabilities(probabilities) -%}
{#- The CTEs that solve the chain whose transitions `probabilities` holds (from_state, to_state, p; the
    walk starts in (start), (conversion) and (null) absorb), ending in
    conversion_probabilities (removed_state, conversion_probability): P(conversion) from (start) for
    the whole chain ('(no removal)') and once per chain state with every transition into it sent to
    (null). The model that uses them starts `with recursive`.

    Solved exactly, by state elimination (the stochastic complement, as in Grassmann–Taksar–Heyman):
    eliminating a state s replaces each pair of transitions i → s → j by i → j, adding
    p(i, s) · p(s, j) / (1 − p(s, s)) to p(i, j), where 1 − p(s, s) is summed from s's other
    transitions, so nothing is subtracted. Once every channel state is eliminated, (start) leads
    straight to (conversion) or (null): p((start), (conversion)) is the conversion probability. One
    recursion step per chain state, in every removal scenario at once: about twenty steps, far below
    BigQuery's recursion cap. The matrix of each scenario travels as an array of (from_state,
    to_state, p), because BigQuery allows no aggregate in a query that reads the recursive relation
    itself, only in subqueries of its arrays; `select entry from (...) as entry` makes each row of
    such a subquery one struct of the array. Standard SQL on both targets; an adapter with a better
    solver overrides this macro (`<adapter>__markov_conversion_probabilities`). -#}

-- The states to eliminate, numbered: every state with transitions out but (start).
eliminated_states as (

    select
        chain_state,
        row_number() over (order by chain_state) as elimination_number

    from (select distinct from_state as chain_state from {{ probabilities }} where from_state != '(start)') as states

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
        chain.from_state,
        case
            when chain.to_state = scenarios.removed_state then '(null)'
            else chain.to_state
        end as to_state,
        chain.p

    from scenarios

    cross join {{ probabilities }} as chain

    where chain.from_state != scenarios.removed_state

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

)
{%- endmacro %}
