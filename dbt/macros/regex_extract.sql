{#- The text a regular expression's one capturing group matches in a string expression; null when the
    expression is null or does not match (DuckDB's '' for no match becomes null). -#}
{% macro regex_extract(expression, pattern) %}
    {{- return(adapter.dispatch('regex_extract', 'attribution')(expression, pattern)) -}}
{% endmacro %}

{% macro default__regex_extract(expression, pattern) -%}
    regexp_substr({{ expression }}, '{{ pattern }}', 1, 1, 'e')
{%- endmacro %}

{% macro duckdb__regex_extract(expression, pattern) -%}
    nullif(regexp_extract({{ expression }}, '{{ pattern }}', 1), '')
{%- endmacro %}

{% macro bigquery__regex_extract(expression, pattern) -%}
    regexp_extract({{ expression }}, r'{{ pattern }}')
{%- endmacro %}
