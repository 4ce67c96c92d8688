{#- One path string per path_id (docs/paths.md): the channel groups of `steps` (a relation or CTE with
    path_id, step_number and channel_group) in step order, joined by ' > '. With the dbt var
    path_collapse_repeats, consecutive repeats of a channel count once. Converting and non-converting
    paths are spelled by this one macro, so mart_path_summary can set them side by side. -#}
{% macro channel_path(steps, path_id, step_number) %}
    {%- set collapse = var('path_collapse_repeats') | string | lower == 'true' %}
    select
        {{ path_id }},
        {{ dbt.listagg('channel_group', "' > '", 'order by ' ~ step_number) }} as path  -- noqa: RF04

    from (
        select
            {{ path_id }},
            {{ step_number }},
            channel_group,
            lag(channel_group) over (partition by {{ path_id }} order by {{ step_number }}) as previous_channel_group

        from {{ steps }}
    ) as ordered_steps

    {%- if collapse %}

        where previous_channel_group is null or channel_group <> previous_channel_group
    {%- endif %}

    group by {{ path_id }}
{% endmacro %}
