{#- Journeys under the reporting identity (docs/identity.md): a journey is a device (user_pseudo_id) or,
    blended, every device of one logged-in user (int_device_identities). The models keyed by journey
    rebuild whole journeys. -#}

{#- SQL expression: the journey of the device `device` (a user_pseudo_id column), given its current
    int_device_identities row joined as `identities`. -#}
{% macro journey_key(device, identities='identities') -%}
    coalesce({{ identities }}.journey_key, {{ device }})
{%- endmacro %}

{#- SQL subquery (journey_key, _events_loaded_at): the journeys an incremental build rebuilds, those
    changed since `since` (an SQL timestamp): the current journeys of the devices whose sessions or
    conversions were rebuilt or that lost events (removed from the GA4 export), and every journey a
    device joined or left (int_device_identities' rows written since). -#}
{% macro rebuilt_journeys(since) -%}
    (
        select
            {{ journey_key('devices.user_pseudo_id') }} as journey_key,
            devices._events_loaded_at

        from (
            select
                user_pseudo_id,
                _events_loaded_at
            from {{ ref('int_sessions') }}
            where _events_loaded_at > {{ since }}

            union all

            select
                user_pseudo_id,
                _events_loaded_at
            from {{ ref('int_conversions') }}
            where _events_loaded_at > {{ since }} and user_pseudo_id is not null

            union all

            select
                user_pseudo_id,
                loaded_at as _events_loaded_at
            from {{ ref('int_removed_events') }}
            where loaded_at > {{ since }} and user_pseudo_id is not null
        ) as devices

        left join {{ ref('int_device_identities') }} as identities
            on
                devices.user_pseudo_id = identities.user_pseudo_id
                and identities.is_current

        union all

        select
            journey_key,
            _events_loaded_at
        from {{ ref('int_device_identities') }}
        where _events_loaded_at > {{ since }}
    )
{%- endmacro %}

{#- SQL subquery (user_pseudo_id): every device of the journeys in the subquery `journeys`
    (journey_key): their current members, and a journey that is a device's own while that device has
    no user. -#}
{% macro journey_devices(journeys) -%}
    (
        select identities.user_pseudo_id
        from {{ ref('int_device_identities') }} as identities
        where identities.is_current and identities.journey_key in (select journey_key from {{ journeys }})

        union all

        select journey_key as user_pseudo_id
        from {{ journeys }}
        where journey_key not in (
            select identities.user_pseudo_id from {{ ref('int_device_identities') }} as identities
            where identities.is_current
        )
    )
{%- endmacro %}

{#- pre_hook of a model keyed by journey (int_channel_paths): delete the rows of every journey that may
    have no rows left, so the build does not keep them: journeys a device left, and those of devices
    that lost events, since the model's watermark. The build then rebuilds what is left of them
    (rebuilt_journeys lists them). Nothing is sent when there is none. The same MERGE on both
    targets as forget_removed_events (the emulator runs no DELETE). -#}
{% macro forget_left_journeys() %}
    {%- if not execute or not is_incremental() or model.resource_type == 'unit_test' -%}
        {{- return('') -}}
    {%- endif -%}
    {%- set since = watermark_constant() -%}
    {%- set left_journeys -%}
        (
            select journey_key
            from {{ ref('int_device_identities') }}
            where _events_loaded_at > {{ since }} and not is_current

            union all

            select {{ journey_key('removed.user_pseudo_id') }} as journey_key
            from {{ ref('int_removed_events') }} as removed
            left join {{ ref('int_device_identities') }} as identities
                on removed.user_pseudo_id = identities.user_pseudo_id and identities.is_current
            where removed.loaded_at > {{ since }} and removed.user_pseudo_id is not null
        )
    {%- endset -%}
    {%- if not run_query('select count(*) from ' ~ left_journeys ~ ' as left_journeys').columns[0].values()[0] -%}
        {{- return('') -}}
    {%- endif -%}
    {{- return('merge into ' ~ this ~ ' as target using (select distinct journey_key from ' ~ left_journeys
        ~ ' as left_journeys) as left_journeys on target.journey_key = left_journeys.journey_key'
        ~ ' when matched then delete') -}}
{% endmacro %}
