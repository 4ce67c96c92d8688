{#- The 8-byte floating point type, for credits and attributed revenue. -#}
{% macro type_double() %}
    {{- return(adapter.dispatch('type_double', 'attribution')()) -}}
{% endmacro %}

{% macro default__type_double() %}
    {{- dbt.type_float() -}}
{% endmacro %}

{#- dbt.type_float() is `float` on DuckDB, which DuckDB reads as 4-byte real. -#}
{% macro duckdb__type_double() %}
    {{- 'double' -}}
{% endmacro %}
