{#- SQL condition: the event named by `event_name` (a column) is a conversion, one of var('conversion_events'). -#}
{% macro is_conversion_event(event_name) -%}
    {{ event_name }} in ('{{ var("conversion_events") | join("', '") }}')
{%- endmacro %}
