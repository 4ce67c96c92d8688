{#-
    GA4's default channel group of a session, from its source, medium, campaign and source category.
    Rules and their order follow Google's definition: https://support.google.com/analytics/answer/9756891
    (the "manual traffic" table; Google matches case-insensitively, so inputs are lower-cased here).
    Source categories (SOURCE_CATEGORY_SEARCH / SOCIAL / SHOPPING / VIDEO) come from the seed
    ga4_source_categories, joined by the caller.
-#}
{% macro default_channel_group(source, medium, campaign, source_category) %}
    {%- set src = 'lower(' ~ source ~ ')' -%}
    {%- set med = 'lower(' ~ medium ~ ')' -%}
    {%- set cmp = 'lower(' ~ campaign ~ ')' -%}
    {%- set paid_medium = '^(.*cp.*|ppc|retargeting|paid.*)$' -%}
    {%- set shopping_campaign = '^(.*(([^a-df-z]|^)shop|shopping).*)$' -%}
    case
        -- Direct: Source exactly matches "(direct)" AND Medium is one of ("(not set)", "(none)")
        when {{ src }} = '(direct)' and {{ med }} in ('(not set)', '(none)')
            then 'Direct'
        -- Cross-network: Campaign Name contains "cross-network"
        when {{ cmp }} like '%cross-network%'
            then 'Cross-network'
        -- Paid Shopping: (Source matches a list of shopping sites
        --   OR Campaign Name matches regex ^(.*(([^a-df-z]|^)shop|shopping).*)$)
        --   AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$
        when
            (
                {{ source_category }} = 'SOURCE_CATEGORY_SHOPPING'
                or {{ regex_contains(cmp, shopping_campaign) }}
            )
            and {{ regex_contains(med, paid_medium) }}
            then 'Paid Shopping'
        -- Paid Search: Source matches a list of search sites AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$
        when {{ source_category }} = 'SOURCE_CATEGORY_SEARCH' and {{ regex_contains(med, paid_medium) }}
            then 'Paid Search'
        -- Paid Social: Source matches a list of social sites AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$
        when {{ source_category }} = 'SOURCE_CATEGORY_SOCIAL' and {{ regex_contains(med, paid_medium) }}
            then 'Paid Social'
        -- Paid Video: Source matches a list of video sites AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$
        when {{ source_category }} = 'SOURCE_CATEGORY_VIDEO' and {{ regex_contains(med, paid_medium) }}
            then 'Paid Video'
        -- Display: Medium is one of ("display", "banner", "expandable", "interstitial", "cpm")
        when {{ med }} in ('display', 'banner', 'expandable', 'interstitial', 'cpm')
            then 'Display'
        -- Paid Other: Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$
        when {{ regex_contains(med, paid_medium) }}
            then 'Paid Other'
        -- Organic Shopping: Source matches a list of shopping sites
        --   OR Campaign Name matches regex ^(.*(([^a-df-z]|^)shop|shopping).*)$
        when {{ source_category }} = 'SOURCE_CATEGORY_SHOPPING' or {{ regex_contains(cmp, shopping_campaign) }}
            then 'Organic Shopping'
        -- Organic Social: Source matches a list of social sites
        --   OR Medium is one of ("social", "social-network", "social-media", "sm", "social network", "social media")
        when
            {{ source_category }} = 'SOURCE_CATEGORY_SOCIAL'
            or {{ med }} in ('social', 'social-network', 'social-media', 'sm', 'social network', 'social media')
            then 'Organic Social'
        -- Organic Video: Source matches a list of video sites OR Medium matches regex ^(.*video.*)$
        when {{ source_category }} = 'SOURCE_CATEGORY_VIDEO' or {{ regex_contains(med, '^(.*video.*)$') }}
            then 'Organic Video'
        -- Organic Search: Source matches a list of search sites OR Medium exactly matches "organic"
        when {{ source_category }} = 'SOURCE_CATEGORY_SEARCH' or {{ med }} = 'organic'
            then 'Organic Search'
        -- Referral: Medium is one of ("referral", "app", "link")
        when {{ med }} in ('referral', 'app', 'link')
            then 'Referral'
        -- Email: Source = email|e-mail|e_mail|e mail OR Medium = email|e-mail|e_mail|e mail
        when
            {{ src }} in ('email', 'e-mail', 'e_mail', 'e mail')
            or {{ med }} in ('email', 'e-mail', 'e_mail', 'e mail')
            then 'Email'
        -- Affiliates: Medium = "affiliate"
        when {{ med }} = 'affiliate'
            then 'Affiliates'
        -- Audio: Medium exactly matches "audio"
        when {{ med }} = 'audio'
            then 'Audio'
        -- SMS: Source exactly matches "sms" OR Medium exactly matches "sms"
        when {{ src }} = 'sms' or {{ med }} = 'sms'
            then 'SMS'
        -- Mobile Push Notifications: Medium ends with "push" OR Medium contains "mobile" or "notification"
        --   OR Source exactly matches "firebase"
        when
            {{ med }} like '%push'
            or {{ med }} like '%mobile%'
            or {{ med }} like '%notification%'
            or {{ src }} = 'firebase'
            then 'Mobile Push Notifications'
        -- Unassigned: no rule matched
        else 'Unassigned'
    end
{%- endmacro %}
