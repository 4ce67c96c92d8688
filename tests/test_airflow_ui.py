"""A real API server: the Airflow UI's additions (the dashboard link, the project's dbt docs) and the REST
client that the command line, bench, soak and the compose test drive a stack with."""

import json
import urllib.request

import pytest
from browser import chromium, wait_for_text
from conftest import run
from servers import free_port, serving

from attribution.stack import api
from attribution.stack.api import AirflowClient
from attribution.stack.environment import ADMIN_USER, DAG_ID, VENV_BIN, admin_password

pytestmark = pytest.mark.airflow


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


@pytest.mark.browser
def test_the_dbt_docs_are_browsable_inside_airflow(api_server, tmp_path):
    url, _ = api_server
    node = "model.attribution.mart_first_click"
    status, manifest = _get(f"{url}/cosmos/attribution/manifest.json")
    assert status == 200 and node in json.loads(manifest)["nodes"]
    description = json.loads(manifest)["nodes"][node]["description"]
    with chromium(tmp_path / "chromium") as browser:
        browser.get(f"{url}/cosmos/attribution/dbt_docs_index.html#!/model/{node}")
        # The docs app loads the manifest and catalog through the plugin: the model's page shows its
        # description, and the project tree, opened at the model, its neighbours in marts/.
        assert wait_for_text(browser, description)
        assert wait_for_text(browser, "mart_last_click")


def test_the_rest_client_unpauses_triggers_and_reads_runs(api_server, monkeypatch):
    url, env = api_server
    # No scheduler here: the DAGs reach the API once serialized, and a triggered run stays queued.
    assert run([str(VENV_BIN / "airflow"), "dags", "reserialize"], env).returncode == 0
    client = AirflowClient.login(url, ADMIN_USER, admin_password(env))
    client.unpause(DAG_ID, timeout=60)
    assert client.request(f"/api/v2/dags/{DAG_ID}")["is_paused"] is False
    run_ids = [client.trigger(DAG_ID, {"synthetic_events": n}) for n in (0, 1)]
    monkeypatch.setattr(api, "PAGE", 1)  # every page is followed
    every = client.runs(DAG_ID)
    assert [r["dag_run_id"] for r in every if r["dag_run_id"] in run_ids] == run_ids, "oldest first"
    assert client.run(DAG_ID, run_ids[1])["conf"] == {"synthetic_events": 1}
    assert {r["dag_run_id"] for r in client.active_runs()} >= set(run_ids)
    assert not {r["dag_run_id"] for r in client.runs(DAG_ID, state="success")} & set(run_ids), "filtered by state"
    assert client.runs("~", run_type="manual")[-1]["dag_run_id"] == run_ids[1], "across DAGs, filtered"
    states = client.task_states(DAG_ID, run_ids[0])
    assert {"generate", "load", "dbt.dbt_producer_watcher", "publish"} <= states.keys(), "every page of them"
    assert set(states.values()) == {None}, "nothing ran: no scheduler"
