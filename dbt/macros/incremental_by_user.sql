{#- Incremental by user (README: incremental runs). A conversion's attribution depends only on its
    user's sessions, so an incremental build recomputes the rows of the users touched by events
    loaded since that model's last build. Every row keeps `_events_loaded_at`: the newest event load
    the build that wrote it had seen, so the model's own maximum is its watermark. -#}

{#- SQL expression: the newest load time among `events` (int_events). -#}
{% macro events_loaded_at(events) -%}
    (select max(loaded_at) from {{ events }})
{%- endmacro %}

{#- SQL condition on user_pseudo_id: the user's rows are recomputed in this build. On an incremental
    build, users with events loaded after the model's watermark, and users who share a transaction_id
    with them (the first occurrence of a transaction_id decides whose conversion it is); on a full
    build, everyone. The model passes its is_incremental(), which dbt's unit tests override. -#}
{% macro user_has_new_events(events, incremental) -%}
    {%- if incremental -%}
        {%- set watermark -%}
            (select coalesce(max(_events_loaded_at), cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }})) from {{ this }})
        {%- endset -%}
        user_pseudo_id in (
            select new_events.user_pseudo_id from {{ events }} as new_events
            where new_events.loaded_at > {{ watermark }}
            union distinct
            select sharing_events.user_pseudo_id from {{ events }} as sharing_events
            inner join {{ events }} as new_events on sharing_events.transaction_id = new_events.transaction_id
            where new_events.loaded_at > {{ watermark }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Model config: an incremental model whose rows are rebuilt per `key`: a build deletes every row of
    the keys in its result and inserts the result, so rows that no longer exist disappear (a touchpoint
    that left the lookback window). DuckDB: dbt's delete+insert. BigQuery: dbt's merge strategy with
    this project's merge SQL (bigquery__get_merge_sql), one MERGE that deletes and inserts, because a
    DELETE plus an INSERT would be a multi-statement script.
    Use: config(materialized='incremental', **rebuild_rows_by('conversion_id')). -#}
{% macro rebuild_rows_by(key) %}
    {{- return(adapter.dispatch('rebuild_rows_by', 'attribution')(key)) -}}
{% endmacro %}

{% macro default__rebuild_rows_by(key) %}
    {{- return({'incremental_strategy': 'delete+insert', 'unique_key': key}) -}}
{% endmacro %}

{% macro bigquery__rebuild_rows_by(key) %}
    {{- return({'incremental_strategy': 'merge', 'unique_key': key, 'meta': {'rebuild_rows_by': key}}) -}}
{% endmacro %}
