{#- Model config: partition a table by a date column where the warehouse has partitions (BigQuery:
    queries filtering on it read only those days). Elsewhere none (dbt-duckdb reads `partition_by` as
    a list of columns for its own layouts). Use: config(partition_by=date_partitioning('event_date')). -#}
{% macro date_partitioning(column) %}
    {{- return(adapter.dispatch('date_partitioning', 'attribution')(column)) -}}
{% endmacro %}

{% macro default__date_partitioning(column) %}
    {{- return(none) -}}
{% endmacro %}

{% macro bigquery__date_partitioning(column) %}
    {{- return({'field': column, 'data_type': 'date'}) -}}
{% endmacro %}
