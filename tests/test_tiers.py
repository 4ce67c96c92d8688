"""The tiers are enforced: a test that starts heavy machinery without its marker fails (tests/tiers.py)."""

import sys
from pathlib import Path

import pytest
from tiers import FAST_TIER, needed_marker

from attribution.settings import PROJECT_ROOT

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("command", "marker"),
    [
        (["/x/.venv/bin/airflow", "dags", "test", "attribution_pipeline"], "airflow"),
        ([sys.executable, "-m", "attribution.local_stack", "run-once"], "airflow"),
        (["/x/.venv-dbt/bin/dbt", "build"], "dbt"),
        ([sys.executable, "-m", "attribution.dbt_cli", "parse"], "dbt"),
        (["/x/.venv-emulator/bin/crucible", "serve"], "bigquery"),
        (["/usr/bin/chromedriver", "--port=1"], "browser"),
        (["/usr/bin/docker-compose", "config"], "debian"),
        (["dockerd", "--data-root", "/x"], "compose"),
        ([sys.executable, "-c", "print(1)"], None),
        (["make", "setup"], None),
        ("git status", None),
    ],
)
def test_each_command_needs_its_marker(command, marker):
    assert needed_marker(command) == marker


def test_an_unmarked_test_that_starts_dbt_fails_a_marked_or_compose_one_runs(pytester: pytest.Pytester, tmp_path: Path):
    # A stand-in named like dbt: the guard goes by what is started, so the real dbt need not run here.
    fake = tmp_path / "bin" / "dbt"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    pytester.makeconftest('pytest_plugins = ["tiers"]')
    pytester.makepyfile(
        f"""
        import subprocess
        import pytest

        def test_unmarked():
            subprocess.run([{str(fake)!r}, "build"], check=True)

        @pytest.mark.dbt
        def test_marked():
            subprocess.run([{str(fake)!r}, "build"], check=True)

        @pytest.mark.compose
        def test_in_the_compose_tier():
            # The compose tier runs outside make test and may start anything (docker-compose needs "debian").
            subprocess.run([{str(fake)!r}, "build"], check=True)

        @pytest.fixture(scope="module")
        def built():
            subprocess.run([{str(fake)!r}, "build"], check=True)

        def test_through_a_module_fixture(built):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*test_unmarked uses `*dbt build` without @pytest.mark.dbt*"])
    result.stdout.fnmatch_lines(["*test_through_a_module_fixture uses `*dbt build` without @pytest.mark.dbt*"])


def test_make_test_fast_runs_the_fast_tier():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert f"FAST_TIER := {FAST_TIER}\n" in makefile


def test_zetasqls_analyzer_needs_the_bigquery_marker(pytester: pytest.Pytester):
    pytester.makeconftest('pytest_plugins = ["tiers"]')
    pytester.makepyfile(
        """
        from googlesql import GoogleSqlCatalog

        def test_unmarked():
            GoogleSqlCatalog("local-project")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_unmarked uses ZetaSQL's analyzer without @pytest.mark.bigquery*"])
