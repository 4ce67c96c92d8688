{#- True when a string expression contains a match of a regular expression (unanchored). -#}
{% macro regex_contains(expression, pattern) %}
    {{- return(adapter.dispatch('regex_contains', 'attribution')(expression, pattern)) -}}
{% endmacro %}

{% macro default__regex_contains(expression, pattern) %}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regex_contains(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro bigquery__regex_contains(expression, pattern) -%}
    regexp_contains({{ expression }}, r'{{ pattern }}')
{%- endmacro %}
