{#- The traffic-source rules of a real GA4 property (docs/ga4.md), as SQL over one event's columns. -#}

{#- A source / medium / campaign value with GA4's placeholders for "no value" removed: null when the
    value is a placeholder the seed ga4_placeholders treats as absent for `field`. -#}
{% macro without_placeholder(expression, field) -%}
    case
        when {{ expression }} in (
            select absent.placeholder from {{ ref('ga4_placeholders') }} as absent
            where absent.treated_as = 'absent' and absent.field in ('any', '{{ field }}')
        ) then null
        else {{ expression }}
    end
{%- endmacro %}

{#- The lower-case host of a URL expression (`https://Shop.Example.com:443/p` -> `shop.example.com`);
    null when it is not an absolute URL. -#}
{% macro url_host(url) -%}
    lower({{ regex_extract(url, '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#@]+)') }})
{%- endmacro %}

{#- The site a lower-case host belongs to: its registrable domain, approximated without the public
    suffix list as the last two labels, or three under a country's second level (`example.co.uk`).
    `shop.example.com` and `www.example.com` are one site. Null for a value without a dot. -#}
{% macro site_of(host) -%}
    {{ regex_extract(host, '([^.]+[.](?:(?:co|com|org|net|gov|ac|edu|ne|or)[.][a-z]{2}|[a-z0-9-]+))$') }}
{%- endmacro %}

{#- True when `host` is `site` or a subdomain of it (both lower-case host expressions). -#}
{% macro host_within(host, site) -%}
    ({{ host }} = {{ site }} or {{ dbt.right(host, dbt.length(site) ~ ' + 1') }} = {{ dbt.concat(["'.'", site]) }})
{%- endmacro %}

{#- The hosts of var('unwanted_referrals') (comma-separated; ATTRIBUTION_UNWANTED_REFERRALS), checked
    to be host names: they are written into the SQL. -#}
{% macro unwanted_referral_hosts() %}
    {%- set hosts = [] -%}
    {%- for host in (var('unwanted_referrals') or '').split(',') if host.strip() -%}
        {%- set host = host.strip().lower() -%}
        {%- if not modules.re.match('^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$', host) -%}
            {{- exceptions.raise_compiler_error('unwanted_referrals must list host names, got ' ~ host) -}}
        {%- endif -%}
        {%- do hosts.append(host) -%}
    {%- endfor -%}
    {{- return(hosts) -}}
{% endmacro %}

{#- True when a referral carries no source (GA4's unwanted referrals): its medium is `referral` and its
    source is a listed host or a subdomain of one, or on the site the event is on (site_of the host of
    its page), or the event is flagged ignore_referrer. Sources and hosts compare in lower case. -#}
{% macro is_unwanted_referral(source, medium, page_host, ignores_referrer) -%}
    {%- set src = 'lower(' ~ source ~ ')' -%}
    {%- set conditions = [
        'coalesce(' ~ ignores_referrer ~ ', false)',
        'coalesce(' ~ site_of(src) ~ ' = ' ~ site_of(page_host) ~ ', false)',
    ] -%}
    {%- for host in unwanted_referral_hosts() -%}
        {%- do conditions.append(host_within(src, "'" ~ host ~ "'")) -%}
    {%- endfor -%}
    (lower({{ medium }}) = 'referral' and ({{ conditions | join(' or ') }}))
{%- endmacro %}
