{#- GA4's streaming export (docs/ga4.md: today, from the streaming export): `events_intraday_YYYYMMDD`
    tables beside the daily ones, in the same dataset (schema on DuckDB), filled through the day and
    deleted some time after that day's daily data appears. A day is read from exactly one of the two:
    its daily data once there is any, else its intraday table, so no query counts an event twice. -#}

{#- ATTRIBUTION_GA4_INTRADAY: auto (read intraday tables where the export has them), true (the same,
    and a build fails when the export has none: the streaming export is expected on), false (never). -#}
{% macro ga4_intraday_mode() %}
    {%- set mode = env_var('ATTRIBUTION_GA4_INTRADAY', 'auto') | lower -%}
    {%- if mode not in ('auto', 'true', 'false') -%}
        {{- exceptions.raise_compiler_error(
            "ATTRIBUTION_GA4_INTRADAY must be auto, true or false, got '" ~ mode ~ "'") -}}
    {%- endif -%}
    {{- return(mode) -}}
{% endmacro %}

{#- Compile time, for stg_ga4_events: which export days this build reads and from where.
    - daily_from: the first day ('YYYYMMDD') read from the daily data (ga4_first_day_to_read), moved
      back to the oldest day being handed over; none: the daily data is not read.
    - intraday: [(day, relation)], the intraday tables read, of days without daily data, oldest first.
    - handed_over: the days whose rows here are still provisional (read from an intraday table) and
      whose daily data now exists: this build replaces them with the daily rows.
    - first_day: the oldest day read at all (the rows already here that can match are from it on).
    Watched (the load task notes the export's changes in ga4_export_changes, ga4_watch.py): an
    incremental build reads only what changed since a build last read it, the daily data only when a
    daily table changed, an intraday table only when it did (at most once per
    ATTRIBUTION_GA4_INTRADAY_INTERVAL_SECONDS: the cost bound). Unwatched (no change ever noted: a
    build started by hand), every part as above.
    Metadata only on the `events_*` wildcard (the dataset's table list); over a single table or view,
    one query for which of the intraday days it holds. Nothing while parsing or in unit tests. -#}
{% macro ga4_export_plan() %}
    {%- set changes, reads = source('raw', 'ga4_export_changes'), source('raw', 'ga4_export_reads') -%}
    {%- set plan = {'daily_from': none, 'intraday': [], 'handed_over': []} -%}
    {%- set mode = ga4_intraday_mode() -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {%- do plan.update({'daily_from': ga4_first_day_to_read()}) -%}
        {{- return(ga4_plan_first_day(plan)) -}}
    {%- endif -%}
    {%- set unread, daily_read = none, true -%}
    {%- if is_incremental() and run_query('select count(*) from ' ~ changes).columns[0].values()[0] -%}
        {%- set unread = run_query(
            'select distinct table_name from ' ~ changes ~ ' where noticed_at > (select coalesce(max(read_through), '
            ~ "cast('1970-01-01' as " ~ dbt.type_timestamp() ~ ')) from ' ~ reads ~ ')').columns[0].values() | list -%}
        {%- set daily_changed = [] -%}
        {%- for name in unread if not name.startswith('events_intraday_') -%}
            {%- do daily_changed.append(name) -%}
        {%- endfor -%}
        {%- set daily_read = daily_changed | length > 0 -%}
    {%- endif -%}
    {#- Reading this model's newest day is a scan of its event_date: only when the daily data is read. -#}
    {%- if daily_read -%}
        {%- do plan.update({'daily_from': ga4_first_day_to_read()}) -%}
    {%- endif -%}
    {%- if mode == 'false' -%}
        {{- return(ga4_plan_first_day(plan)) -}}
    {%- endif -%}
    {%- set daily = source('ga4', 'events') -%}
    {%- set wildcard = daily.identifier.endswith('*') -%}
    {%- set daily_prefix = daily.identifier[:-1] if wildcard else none -%}
    {%- set intraday_prefix = 'events_intraday_' -%}
    {%- set dataset = api.Relation.create(database=daily.database, schema=daily.schema) -%}
    {%- set intraday_tables, daily_shards = {}, [] -%}
    {%- for table in ga4_export_tables(dataset) -%}
        {%- set name = table.identifier -%}
        {%- if name.startswith(intraday_prefix) and modules.re.match('^[0-9]{8}$', name[intraday_prefix | length:]) -%}
            {%- do intraday_tables.update({name[intraday_prefix | length:]: table}) -%}
        {%- elif wildcard and name.startswith(daily_prefix) and modules.re.match('^[0-9]{8}$', name[daily_prefix | length:]) -%}
            {%- do daily_shards.append(name[daily_prefix | length:]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if mode == 'true' and not intraday_tables -%}
        {{- exceptions.raise_compiler_error(
            'ATTRIBUTION_GA4_INTRADAY is true, but ' ~ dataset ~ ' has no ' ~ intraday_prefix
            ~ 'YYYYMMDD table: is the streaming export on? (auto reads them where they exist)') -}}
    {%- endif -%}
    {#- Rows still provisional: only a daily read hands them over, and only recent days have them (a
        week before the daily reload window; an older one waits for a full refresh). -#}
    {%- set provisional_days = [] -%}
    {%- if is_incremental() and plan['daily_from'] is not none -%}
        {%- set provisional_days = run_query(
            'select distinct export_day from ' ~ this ~ ' where is_provisional and not is_removed and '
            ~ event_date_from(plan['daily_from'], days_before=7)
        ).columns[0].values() | list -%}
    {%- endif -%}
    {%- set candidates = (intraday_tables.keys() | list) + provisional_days -%}
    {%- if not candidates -%}
        {{- return(ga4_plan_first_day(plan)) -}}
    {%- endif -%}
    {%- if wildcard -%}
        {%- set daily_days = daily_shards -%}
    {%- else -%}
        {%- set daily_days = run_query(
            'select distinct event_date from ' ~ daily ~ " where event_date >= '" ~ (candidates | min) ~ "'"
        ).columns[0].values() | list -%}
    {%- endif -%}
    {%- for day in intraday_tables.keys() | sort if day not in daily_days -%}
        {%- if unread is none or intraday_tables[day].identifier in unread -%}
            {%- do plan['intraday'].append((day, intraday_tables[day])) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if plan['daily_from'] is not none -%}
        {%- set handed_over = provisional_days | select('in', daily_days) | sort | list -%}
        {%- do plan.update({'handed_over': handed_over}) -%}
        {%- if handed_over and handed_over[0] < plan['daily_from'] -%}
            {%- do plan.update({'daily_from': handed_over[0]}) -%}
        {%- endif -%}
    {%- endif -%}
    {{- return(ga4_plan_first_day(plan)) -}}
{% endmacro %}

{#- The plan's first_day: the oldest day it reads ('99991231' when it reads nothing). -#}
{% macro ga4_plan_first_day(plan) %}
    {%- set days = plan['intraday'] | map('first') | list -%}
    {%- if plan['daily_from'] is not none -%}
        {%- do days.append(plan['daily_from']) -%}
    {%- endif -%}
    {%- do plan.update({'first_day': days | min if days else '99991231'}) -%}
    {{- return(plan) -}}
{% endmacro %}

{#- post_hook of stg_ga4_events: the export changes noted before this dbt command started have been
    read (ga4_export_plan); later ones wait for the next build. An insert, as the ledger's rows are. -#}
{% macro mark_ga4_export_read() %}
    {%- set reads = source('raw', 'ga4_export_reads') -%}
    {%- set started = run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') -%}
    {%- set started = "cast('" ~ started ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
    {{- return('insert into ' ~ reads ~ ' (read_through, read_at) values (' ~ started ~ ', '
        ~ 'cast(' ~ dbt.current_timestamp() ~ ' as ' ~ dbt.type_timestamp() ~ '))') -}}
{% endmacro %}

{#- The tables of the export's dataset (schema). BigQuery: the API's table list, a metadata call that
    bills no bytes. Elsewhere: the information schema. -#}
{% macro ga4_export_tables(dataset) %}
    {{- return(adapter.dispatch('ga4_export_tables', 'attribution')(dataset)) -}}
{% endmacro %}

{% macro bigquery__ga4_export_tables(dataset) %}
    {{- return(adapter.list_relations_without_caching(dataset)) -}}
{% endmacro %}

{% macro default__ga4_export_tables(dataset) %}
    {%- set names = run_query(
        "select table_name from information_schema.tables where table_schema = '" ~ dataset.schema ~ "'"
        ~ " and table_catalog = '" ~ dataset.database ~ "'"
    ).columns[0].values() -%}
    {%- set tables = [] -%}
    {%- for name in names -%}
        {%- do tables.append(api.Relation.create(database=dataset.database, schema=dataset.schema, identifier=name)) -%}
    {%- endfor -%}
    {{- return(tables) -}}
{% endmacro %}
