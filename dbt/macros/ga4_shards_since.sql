{#- Filter on the GA4 source that keeps export days from `first_day` ('YYYYMMDD') on and lets the
    warehouse skip the rest. Over the `events_*` wildcard that is `_TABLE_SUFFIX` (a constant range,
    so BigQuery prunes shards; it also leaves out `events_intraday_*`, whose suffix starts with a
    letter); over a single table or view it is the `event_date` column. Which one follows from the
    configured relation (ATTRIBUTION_GA4_TABLE), not from the adapter. -#}
{% macro ga4_shards_since(first_day) -%}
    {%- if source('ga4', 'events').identifier.endswith('*') -%}
        _table_suffix between '{{ first_day }}' and '99999999'
    {%- else -%}
        event_date >= '{{ first_day }}'
    {%- endif -%}
{%- endmacro %}

{#- The first export day ('YYYYMMDD') a build of stg_ga4_events reads: var('ga4_first_day') on a first
    build; afterwards var('ga4_reload_days') before the newest day already loaded, because GA4 rewrites
    recent daily tables for late hits. -#}
{% macro ga4_first_day_to_read() %}
    {%- if is_incremental() and execute -%}
        {%- set newest = run_query('select max(event_date) from ' ~ this).columns[0].values()[0] -%}
        {%- if newest is not none -%}
            {{- return((newest - modules.datetime.timedelta(days=var('ga4_reload_days'))).strftime('%Y%m%d')) -}}
        {%- endif -%}
    {%- endif -%}
    {{- return(var('ga4_first_day')) -}}
{% endmacro %}
