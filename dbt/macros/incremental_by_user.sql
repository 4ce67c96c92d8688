{#- Incremental builds (README: incremental runs). Attribution depends only on a user's sessions, so
    a build recomputes only what events loaded since that model's last build can change. Every row
    keeps `_events_loaded_at`: the newest event load the build that wrote it had seen, so the model's
    own maximum is its watermark.
    - int_sessions and int_conversions read int_events: the events loaded after the watermark, and
      on BigQuery only the partitions those events can be in (first_new_event_date).
    - The models after them read only their inputs' rows rebuilt after their own watermark. -#}

{#- SQL expression: this model's watermark (epoch for an empty table, and on a full build). -#}
{% macro watermark(incremental=true) -%}
    {%- if incremental -%}
        (select coalesce(max(_events_loaded_at), cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }})) from {{ this }})
    {%- else -%}
        cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#- SQL condition on int_events rows: loaded after the watermark (every row on a full build). On an
    incremental build with a known first_day (first_new_event_date), also `event_date >= first_day`:
    the same rows, stated as a constant that BigQuery prunes partitions by. `since`: the watermark as
    a constant (watermark_constant), which DuckDB's zone maps and BigQuery's clustering prune by too. -#}
{% macro loaded_since_watermark(incremental, first_day, since=none) -%}
    {%- if incremental -%}
        loaded_at > {{ since or watermark() }}{% if first_day is not none %} and {{ event_date_from(first_day) }}{% endif %}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- SQL condition on an input model's rows: rebuilt after this model's watermark (all on a full build). -#}
{% macro rebuilt_since_watermark(incremental) -%}
    {%- if incremental -%}
        _events_loaded_at > {{ watermark() }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- SQL condition `event_date >= <day - days_before>` with a constant day: a date, or a GA4 export day
    'YYYYMMDD' as var ga4_first_day takes it ('00000000': every day); none: no condition. -#}
{% macro event_date_from(day, days_before=0) -%}
    {%- if day is none or day == '00000000' -%}
        true
    {%- else -%}
        {%- if day is string -%}
            {%- set day = modules.datetime.datetime.strptime(day, '%Y%m%d').date() -%}
        {%- endif -%}
        {%- set first = day - modules.datetime.timedelta(days=days_before | int) -%}
        event_date >= cast('{{ first.strftime("%Y-%m-%d") }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- Compile time: the earliest event_date among events loaded after this model's watermark, so a build
    reads only the partitions from it on. From small tables only: the load ledger's first_event_date
    for streamed files, and stg_ga4_events by loaded_at for GA4 rows (clustered by it, so BigQuery
    reads only its newest blocks). Nothing new: a day after every event, so nothing is read. A new
    ledger row from before first_event_date existed: the streamed table is searched for its files'
    events, unpruned, that once. None (no bound; the SQL watermark alone decides) on a full build, on an
    empty table, while parsing and in dbt unit tests (their inputs are fixtures, not tables). This
    holds because streamed events arrive only through the loader, which writes the ledger. -#}
{% macro first_new_event_date() %}
    {%- if model.resource_type == 'unit_test' -%}
        {{- return(none) -}}
    {%- endif -%}
    {#- Referenced while parsing too, so dbt knows the model reads them. -#}
    {%- set ledger, streamed = source('raw', 'load_ledger'), source('raw', 'streamed_events') -%}
    {%- set ga4_events = ref('stg_ga4_events') -%}
    {%- if not execute or not is_incremental() -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set newest = run_query('select max(_events_loaded_at) from ' ~ this).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set since = "cast('" ~ newest.strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
    {%- set files = run_query(
        'select min(first_event_date), sum(case when first_event_date is null and rows_loaded > 0 then 1 else 0 end)'
        ~ ' from ' ~ ledger ~ ' where loaded_at > ' ~ since ~ " and coalesce(file_type, 'events') = 'events'"
    ).rows[0] -%}
    {%- if files[1] -%}
        {#- The events of those files (an event's loaded_at is its file's ledger row's, stg_streamed_events). -#}
        {%- set streamed_first = run_query(
            'select min(streamed.event_date) from ' ~ streamed ~ ' as streamed inner join ' ~ ledger ~ ' as ledger'
            ~ ' on streamed._batch_file = ledger.file_name and streamed._batch_checksum = ledger.checksum'
            ~ ' where ledger.loaded_at > ' ~ since).columns[0].values()[0] -%}
    {%- else -%}
        {%- set streamed_first = files[0] -%}
    {%- endif -%}
    {%- set ga4_first = run_query(
        'select min(event_date) from ' ~ ga4_events ~ ' where loaded_at > ' ~ since).columns[0].values()[0] -%}
    {%- set days = [streamed_first, ga4_first] | reject('none') | list -%}
    {{- return(days | min if days else modules.datetime.date(9999, 12, 31)) -}}
{% endmacro %}

{#- Compile time, int_sessions: the first day of the events earlier builds saw of the sessions that
    events loaded since its watermark touch: their rows' earliest session_date (a row starts at its
    session's earliest event; event_date is that event's UTC day too). The build reads those sessions'
    older events from it on; a day after every event when no touched session existed before (all their
    events are new: nothing older is read). From the new events, which are in the newest blocks of
    stg_ga4_events and the newest partitions of the streamed table, and this model's rows from
    var lookback_days before first_day on (a session's events span less than the lookback). The
    lookback bound itself where this cannot be told: events removed from the export since the
    watermark (the pre_hook has deleted their sessions' rows), while parsing and in dbt unit tests.
    None (every day) when first_day is none. `since`: the model's watermark_constant. -#}
{% macro first_day_seen_of_touched_sessions(first_day, since) %}
    {%- set events = ref('int_events') -%}
    {%- if first_day is none -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- if first_day.year == 9999 -%}
        {{- return(first_day) -}}
    {%- endif -%}
    {%- set lookback_day = first_day - modules.datetime.timedelta(days=var('lookback_days') | int) -%}
    {%- if not is_incremental() or removed_since_watermark_may_exist() -%}
        {{- return(lookback_day) -}}
    {%- endif -%}
    {%- set seen = run_query(
        'select min(sessions.session_date) from ' ~ this ~ ' as sessions inner join (select distinct user_pseudo_id,'
        ~ ' ga_session_id from ' ~ events ~ ' where loaded_at > ' ~ since ~ ' and ' ~ event_date_from(first_day)
        ~ ') as touched on sessions.user_pseudo_id = touched.user_pseudo_id and sessions.ga_session_id = touched.ga_session_id'
        ~ " where sessions.session_date >= cast('" ~ lookback_day.strftime('%Y-%m-%d') ~ "' as date)"
    ).columns[0].values()[0] -%}
    {{- return(seen if seen is not none else modules.datetime.date(9999, 12, 31)) -}}
{% endmacro %}

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

{#- Compile time: the newest first_event_date in the load ledger, a day on or before the newest
    streamed event's, read from the small ledger table, so a model can read only the recent partitions
    of the streamed table (mart_live_events). None while parsing, in dbt unit tests and on an empty
    ledger: no bound. -#}
{% macro newest_loaded_event_date() %}
    {%- set ledger = source('raw', 'load_ledger') -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(run_query('select max(first_event_date) from ' ~ ledger).columns[0].values()[0]) -}}
{% endmacro %}

{#- SQL subquery: the events removed from the GA4 export (int_removed_events) since this model's
    watermark, whose rows here must go; none on a full build (it reads only the events that remain). -#}
{% macro removed_since_watermark(incremental) -%}
    (select * from {{ ref('int_removed_events') }} where {{ 'loaded_at > ' ~ watermark() if incremental else 'false' }})
{%- endmacro %}

{#- Compile time: this model's watermark read once, as an SQL timestamp constant (epoch for an empty
    table); the SQL expression (watermark) while parsing and in dbt unit tests. -#}
{% macro watermark_constant() %}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{- return(watermark()) -}}
    {%- endif -%}
    {%- set newest = run_query('select max(_events_loaded_at) from ' ~ this).columns[0].values()[0] -%}
    {%- set at = newest.strftime('%Y-%m-%d %H:%M:%S.%f') if newest is not none else '1970-01-01 00:00:00' -%}
    {{- return("cast('" ~ at ~ "' as " ~ dbt.type_timestamp() ~ ")") -}}
{% endmacro %}

{#- Compile time: whether events were removed from the GA4 export since this model's watermark (a
    query of the small view int_removed_events); false while parsing and in dbt unit tests. -#}
{% macro removed_since_watermark_exist() %}
    {%- if not execute or not is_incremental() or model.resource_type == 'unit_test' -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set removed = run_query('select count(*) from ' ~ removed_since_watermark(true) ~ ' as removed') -%}
    {{- return(removed.columns[0].values()[0] > 0) -}}
{% endmacro %}

{#- Compile time: whether SQL must allow for events removed from the GA4 export since this model's
    watermark: removed_since_watermark_exist, and true while parsing and in dbt unit tests (their
    inputs are fixtures, not tables). -#}
{% macro removed_since_watermark_may_exist() %}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{- return(true) -}}
    {%- endif -%}
    {{- return(removed_since_watermark_exist()) -}}
{% endmacro %}

{#- pre_hook of an incremental model: delete its rows that rest on events removed from the GA4 export
    since its watermark (the handover of a day from intraday to daily data); the build then rebuilds
    what remains of them, the removed events' users and sessions among those it rebuilds. `by`, what
    a deleted row has in common with a removed event:
    - 'session': its user_pseudo_id and ga_session_id (int_sessions: rebuilt from the events left);
    - 'event': its event_id (int_conversions: a conversion whose first occurrence it was, rebuilt
      from its other occurrences);
    - 'vanished conversion': its conversion_id, of a conversion no longer in int_conversions (the
      models keyed by conversion rebuild every other conversion they touch by its key).
    Renders nothing unless there is such an event, checked in the small view, so a build without a
    handover sends nothing. One MERGE deleting the rows that match the distinct keys, the same
    statement on both targets (BigQuery deletes a row that matches one source row; the emulator runs
    no DELETE). One per model: a second would see the watermark the first moved. Use:
    config(pre_hook="{{ forget_removed_events('session') }}"). int_channel_paths, keyed by journey, has its
    own (forget_left_journeys). -#}
{% macro forget_removed_events(by) %}
    {%- if not removed_since_watermark_exist() -%}
        {{- return('') -}}
    {%- endif -%}
    {#- The watermark as a constant: the MERGE then reads this table only for the rows it deletes. -#}
    {%- set since = watermark_constant() -%}
    {%- set removed = '(select * from ' ~ ref('int_removed_events') ~ ' where loaded_at > ' ~ since ~ ')' -%}
    {%- set keys = {
        'session': ['user_pseudo_id', 'ga_session_id'],
        'event': ['event_id'],
        'vanished conversion': ['conversion_id'],
    }[by] -%}
    {%- set vanished = by == 'vanished conversion' -%}
    {%- set matches = [] -%}
    {%- for key in keys -%}
        {%- do matches.append('target.' ~ key ~ ' = removed.' ~ key) -%}
    {%- endfor -%}
    {{- return('merge into ' ~ this ~ ' as target using (select distinct ' ~ keys | join(', ') ~ ' from ' ~ removed
        ~ ' as removed_events where ' ~ keys | join(' is not null and ') ~ ' is not null'
        ~ (' and conversion_id not in (select conversion_id from ' ~ ref('int_conversions') ~ ')' if vanished else '')
        ~ ') as removed on '
        ~ matches | join(' and ') ~ ' when matched then delete') -}}
{% endmacro %}
