{#- GA4's position of a touchpoint in a path of n touchpoints (docs/paths.md), as its attribution paths
    report splits them: early, the first 25 % of the path rounded to the nearest whole number (none in
    a one-touchpoint path); late, the last 25 % rounded up (a one-touchpoint path's touchpoint is late);
    middle, the rest (none below three touchpoints). -#}
{% macro path_position(number, count) -%}
    case
        when {{ number }} > {{ count }} - ceil({{ count }} * 0.25) then 'late'
        when {{ number }} <= floor({{ count }} * 0.25 + 0.5) then 'early'
        else 'middle'
    end
{%- endmacro %}
