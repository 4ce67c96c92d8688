{#- Which optional fields the GA4 source has, decided at compile time, so stg_ga4_events builds on an
    old export (the public sample: no collected_traffic_source, no session_traffic_source_last_click)
    and on a current one alike, without configuration.
    `path` is a top-level column (`collected_traffic_source`) or `column.field`
    (`ecommerce.purchase_revenue_in_usd`); `relation`: another table of the export (an intraday one)
    instead of the source. False while parsing, and when the table does not exist. -#}
{% macro ga4_export_has(path, relation=none) %}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set column_name, _, field_name = path.partition('.') -%}
    {%- for column in ga4_export_columns(relation) if column.name | lower == column_name -%}
        {%- set field_pattern = '\\b' ~ field_name ~ '\\b' -%}
        {{- return(not field_name or modules.re.search(field_pattern, column.data_type | lower) is not none) -}}
    {%- endfor -%}
    {{- return(false) -}}
{% endmacro %}

{#- The GA4 source's columns (name, data_type; a struct's type names its fields). Over the `events_*`
    wildcard, the columns of its newest daily table: BigQuery reads the wildcard with the schema of the
    most recently created table it matches, older tables' missing columns reading as null. -#}
{% macro ga4_export_columns(relation=none) %}
    {%- set relation = relation or source('ga4', 'events') -%}
    {%- if relation.identifier.endswith('*') -%}
        {%- set prefix = relation.identifier[:-1] -%}
        {%- set shards = [] -%}
        {%- set dataset = api.Relation.create(database=relation.database, schema=relation.schema) -%}
        {%- for table in adapter.list_relations_without_caching(dataset) -%}
            {%- set suffix = table.identifier[prefix | length:] -%}
            {%- if table.identifier.startswith(prefix) and modules.re.match('^[0-9]{8}$', suffix) -%}
                {%- do shards.append(table) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if not shards -%}
            {{- return([]) -}}
        {%- endif -%}
        {%- set relation = (shards | sort(attribute='identifier') | last) -%}
    {%- endif -%}
    {{- return(adapter.get_columns_in_relation(relation)) -}}
{% endmacro %}
