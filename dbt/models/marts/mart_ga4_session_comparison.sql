-- GA4's own attribution beside ours (docs/ga4.md): per session where the export carries GA4's
-- session_traffic_source_last_click, our session channel against GA4's cross-channel default channel
-- group, and when they differ, the likely reason.

with

sessions as (

    select * from {{ ref('int_sessions') }}

    where ga4_channel_group is not null

),

compared as (

    select
        user_pseudo_id,
        ga_session_id,
        session_date,
        channel_group,
        source,
        medium,
        source_rule,
        ga4_channel_group,
        ga4_source,
        ga4_medium,
        channel_group = ga4_channel_group as agrees,
        case
            when channel_group = ga4_channel_group then 'same channel'
            when channel_group = 'Direct'
                then 'GA4 carries an earlier non-direct source into this direct session (its last click spans sessions)'
            when had_unwanted_referral and ga4_channel_group = 'Referral'
                then 'ours sets the referral aside as unwanted (own site, listed host or ignore_referrer)'
            when source_rule = 'first visit'
                then 'ours takes the first-touch source of the user for a first session without one'
            when source_rule = 'click id'
                then 'ours reads the auto-tagging source of a click id'
            when
                lower(source) = lower(coalesce(ga4_source, ''))
                and lower(medium) = lower(coalesce(ga4_medium, ''))
                then 'same source / medium, grouped differently (source lists or a custom channel group)'
            else 'different source / medium: GA4 took the source of another event or an earlier session'
        end as reason

    from sessions

)

select * from compared
