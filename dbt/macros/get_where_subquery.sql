{#- Data tests on a run's own rows (README: data tests). dbt calls this for the relation a generic test
    checks; the project's version narrows an incremental model, or a view over incremental models, to
    the rows the run's build wrote:
    - stg_ga4_events stamps each row with its build's time (loaded_at): the rows stamped since this
      dbt command started;
    - the models after it mark a row with the newest event load it was rebuilt from
      (_events_loaded_at, README: incremental runs): the rows with the model's own maximum, those of
      its newest build that rebuilt anything.
    Tables (rebuilt whole), seeds and sources are tested whole. With var whole_table_tests (the
    data-quality DAG) every test reads every row. A test's own `where` config applies on top. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set per_run = execute and not var('whole_table_tests', false) -%}
    {%- set built = rows_built_condition(model.attached_node, relation) if per_run else none -%}
    {%- if built -%}
        {%- set where = built ~ (" and (" ~ where ~ ")" if where else "") -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- SQL condition on the rows of the model `unique_id` its last build wrote, or none: test it whole. -#}
{% macro rows_built_condition(unique_id, relation) -%}
    {%- set node = graph.nodes.get(unique_id) if unique_id else none -%}
    {%- if node is none or node.resource_type != 'model' -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set materialized = node.config.materialized -%}
    {%- if '_events_loaded_at' in node.columns and materialized in ('incremental', 'view') -%}
        {%- do return("_events_loaded_at = (select max(_events_loaded_at) from " ~ relation ~ ")") -%}
    {%- elif 'loaded_at' in node.columns and materialized == 'incremental' -%}
        {%- set started = run_started_at.strftime('%Y-%m-%d %H:%M:%S') -%}
        {%- do return("loaded_at >= cast('" ~ started ~ "' as " ~ dbt.type_timestamp() ~ ")") -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}
