"""Airflow UI additions: a navigation entry to the attribution dashboard.

The dbt docs of the project come from Cosmos's own plugin (Browse → dbt docs (attribution)),
configured by ``AIRFLOW__COSMOS__DBT_DOCS_PROJECTS``.
"""

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from attribution.settings import load_settings


class AttributionLinksPlugin(AirflowPlugin):
    name = "attribution_links"
    # No url_route: a plain link, so the dashboard gets the whole window rather than a frame.
    external_views: ClassVar[list[dict]] = [
        {
            "name": "Attribution dashboard",
            "href": load_settings().dashboard_url,
            "destination": "nav",
            "category": "Browse",
        }
    ]
