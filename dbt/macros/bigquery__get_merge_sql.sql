{#- dbt's merge on BigQuery, pruned by meta merge_prunes_by, plus the rebuild of rebuild_rows_by
    models: every source row is inserted, and one source row per key, flagged as a marker, matches and
    deletes the target's old rows of that key. A model's incremental_predicates narrow the target rows
    the markers match, as in dbt's own merge (BigQuery prunes the target's partitions by them). Other
    models get dbt's own merge. -#}
{% macro bigquery__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates=none) %}
    {#- A model whose key fixes a partition column (meta merge_prunes_by: stg_ga4_events, an event's id
        fixes its event_date): the target rows a source row can match are in partitions from the
        source's first one on. That day, read from the small source table, becomes a predicate, so the
        MERGE reads those partitions of the target, not all of it. -#}
    {%- set prune = config.get('meta', {}).get('merge_prunes_by') -%}
    {%- if prune -%}
        {%- set first = run_query('select min(' ~ prune ~ ') from ' ~ source).columns[0].values()[0] -%}
        {%- set bound = "DBT_INTERNAL_DEST." ~ prune ~ " >= cast('" ~ first ~ "' as date)" if first is not none else 'false' -%}
        {%- set incremental_predicates = (incremental_predicates or []) + [bound] -%}
    {%- endif -%}
    {%- set key = config.get('meta', {}).get('rebuild_rows_by') -%}
    {%- if not key -%}
        {{- return(dbt.default__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates)) -}}
    {%- endif -%}
    {%- set columns = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    merge into {{ target }} as dbt_internal_dest
    using (
        select *, false as dbt_is_marker from {{ source }}
        union all
        select * except (dbt_copy), true as dbt_is_marker from (
            select *, row_number() over (partition by {{ key }}) as dbt_copy from {{ source }}
        ) where dbt_copy = 1
    ) as dbt_internal_source
    on dbt_internal_source.dbt_is_marker and dbt_internal_dest.{{ key }} = dbt_internal_source.{{ key }}
    {%- for predicate in incremental_predicates or [] %}
        and ({{ predicate }})
    {%- endfor %}
    when matched then delete
    when not matched and not dbt_internal_source.dbt_is_marker then
        insert ({{ columns }}) values ({{ columns }})
{% endmacro %}
