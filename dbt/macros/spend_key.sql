{#- The form in which spend and traffic are matched (docs/spend.md: matching spend to traffic): source,
    medium and campaign compared case-insensitively, as GA4's channel rules compare them, so a cost
    file's `Google` / `CPC` meets the sessions' `google` / `cpc`. -#}
{% macro spend_key(column) -%}
    lower({{ column }})
{%- endmacro %}
