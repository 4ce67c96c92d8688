{#- Journeys under the reporting identity (docs/identity.md): a journey is a device (user_pseudo_id) or,
    blended, every device of one logged-in user (int_device_identities). The models keyed by journey
    rebuild whole journeys. -#}

{#- SQL subquery: the rows of `rows` (a relation or a subquery with a user_pseudo_id column), each with
    its device's journey_key: the user of a logged-in device, else the device itself. -#}
{% macro with_journey(rows) -%}
    (
        select
            journey_rows.*,
            coalesce(identities.journey_key, journey_rows.user_pseudo_id) as journey_key
        from {{ rows }} as journey_rows
        left join {{ ref('int_device_identities') }} as identities
            on
                journey_rows.user_pseudo_id = identities.user_pseudo_id
                and identities.is_current
    )
{%- endmacro %}

{#- SQL subquery (journey_key, _events_loaded_at): the journeys an incremental build rebuilds, those
    changed since `since` (an SQL timestamp): the current journeys of the devices whose sessions or
    conversions were rebuilt or that lost events (removed from the GA4 export), and every journey a
    device joined or left (int_device_identities' rows written since). -#}
{% macro rebuilt_journeys(since) -%}
    {%- set changed_devices -%}
        (
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
        )
    {%- endset -%}
    (
        select
            devices.journey_key,
            devices._events_loaded_at
        from {{ with_journey(changed_devices) }} as devices

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
    {%- set devices_losing_events -%}
        (select user_pseudo_id from {{ ref('int_removed_events') }} where loaded_at > {{ since }} and user_pseudo_id is not null)
    {%- endset -%}
    {%- set left_journeys -%}
        (
            select journey_key
            from {{ ref('int_device_identities') }}
            where _events_loaded_at > {{ since }} and not is_current

            union all

            select journey_key
            from {{ with_journey(devices_losing_events) }} as removed
        )
    {%- endset -%}
    {%- if not run_query('select count(*) from ' ~ left_journeys ~ ' as left_journeys').columns[0].values()[0] -%}
        {{- return('') -}}
    {%- endif -%}
    {{- return('merge into ' ~ this ~ ' as target using (select distinct journey_key from ' ~ left_journeys
        ~ ' as left_journeys) as left_journeys on target.journey_key = left_journeys.journey_key'
        ~ ' when matched then delete') -}}
{% endmacro %}
