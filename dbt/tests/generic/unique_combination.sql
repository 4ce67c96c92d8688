{#- Fails on every combination of the given columns that occurs in more than one row. -#}
{% test unique_combination(model, columns) %}

    select
        {{ columns | join(', ') }},
        count(*) as occurrences

    from {{ model }}

    group by {{ columns | join(', ') }}

    having count(*) > 1

{% endtest %}
