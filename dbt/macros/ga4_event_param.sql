{#- One value of a GA4 event's repeated `event_params` (key / value structs), by key.
    value_type: string, int, float or double: which field of the value struct holds it. -#}
{% macro ga4_event_param(key, value_type='string') %}
    {{- return(adapter.dispatch('ga4_event_param', 'attribution')(key, value_type)) -}}
{% endmacro %}

{% macro default__ga4_event_param(key, value_type) -%}
    (select event_param.value.{{ value_type }}_value from unnest(event_params) as event_param where event_param.key = '{{ key }}')
{%- endmacro %}

{#- DuckDB: a lambda over the list beats a correlated subquery per row. -#}
{% macro duckdb__ga4_event_param(key, value_type) -%}
    list_filter(event_params, lambda event_param: event_param.key = '{{ key }}')[1].value.{{ value_type }}_value
{%- endmacro %}
