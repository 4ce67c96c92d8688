"""The Airflow UI's additions, served by a real API server: the dashboard link and the project's dbt docs."""

import json
import urllib.request

import pytest
from browser import chromium, wait_for
from servers import free_port, serving

from attribution.local_stack import ADMIN_USER, VENV_BIN, admin_password

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_server(airflow_home, tmp_path_factory):
    port = free_port()
    env = {
        **airflow_home,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "ATTRIBUTION_DASHBOARD_URL": "http://dashboard.example:8501",
    }
    log = tmp_path_factory.mktemp("api-server") / "api-server.log"
    command = [str(VENV_BIN / "airflow"), "api-server"]
    with serving("API server", command, "/api/v2/monitor/health", log, env, port) as url:
        yield url, env


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.read()


def test_the_ui_lists_the_dashboard_link_and_the_dbt_docs(api_server):
    url, env = api_server
    login = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": ADMIN_USER, "password": admin_password(env)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=30) as response:
        token = json.loads(response.read())["access_token"]
    _, body = _get(f"{url}/api/v2/plugins", token)
    views = {view["name"]: view for plugin in json.loads(body)["plugins"] for view in plugin["external_views"]}
    assert views["Attribution dashboard"]["href"] == "http://dashboard.example:8501"
    assert views["Attribution dashboard"]["destination"] == "nav"
    assert views["dbt docs (attribution)"]["href"] == "/cosmos/attribution/dbt_docs_index.html"


def test_the_dbt_docs_are_browsable_inside_airflow(api_server, tmp_path):
    url, _ = api_server
    status, manifest = _get(f"{url}/cosmos/attribution/manifest.json")
    assert status == 200 and "model.attribution.mart_first_click" in json.loads(manifest)["nodes"]
    with chromium(tmp_path / "chromium") as browser:
        browser.get(f"{url}/cosmos/attribution/dbt_docs_index.html")
        # The docs app loads the manifest and catalog through the plugin and lists the project's models.
        assert wait_for(browser, "[href='#!/model/model.attribution.mart_first_click']")
