{#- SQL expression: a one-way hash (SHA-256, 64 lowercase hex characters) of a string identifier, null
    for null, the same on every warehouse: the site's user_id never leaves staging as itself. -#}
{% macro hash_identifier(expression) %}
    {{- return(adapter.dispatch('hash_identifier', 'attribution')(expression)) -}}
{% endmacro %}

{% macro default__hash_identifier(expression) %}
    {{- 'sha256(' ~ expression ~ ')' -}}
{% endmacro %}

{% macro bigquery__hash_identifier(expression) %}
    {{- 'to_hex(sha256(' ~ expression ~ '))' -}}
{% endmacro %}
