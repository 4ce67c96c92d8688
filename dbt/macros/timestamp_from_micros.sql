{#- A UTC timestamp from an integer count of microseconds since the Unix epoch (GA4's event_timestamp). -#}
{% macro timestamp_from_micros(micros) %}
    {{- return(adapter.dispatch('timestamp_from_micros', 'attribution')(micros)) -}}
{% endmacro %}

{% macro default__timestamp_from_micros(micros) %}
    {{- dbt.dateadd('microsecond', micros, "cast('1970-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")") -}}
{% endmacro %}

{% macro duckdb__timestamp_from_micros(micros) -%}
    make_timestamp({{ micros }})
{%- endmacro %}

{% macro bigquery__timestamp_from_micros(micros) -%}
    timestamp_micros({{ micros }})
{%- endmacro %}
