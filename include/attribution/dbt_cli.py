"""Run dbt from its own environment against the configured target: ``make dbt ARGS="build -s mart_first_click"``."""

from __future__ import annotations

import os
import subprocess
import sys

from attribution.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR, load_settings


def run_dbt(args: list[str], environ: dict[str, str] | None = None) -> int:
    """dbt ``args`` in the project directory with the settings' environment; returns dbt's exit code."""
    settings = load_settings(environ)
    env = dict(os.environ if environ is None else environ) | settings.dbt_env()
    env.pop("DBT_EXCLUDE_RESOURCE_TYPES")  # by hand, unit tests run like everything else
    command = [str(DBT_EXECUTABLE), *args]
    if args and args[0] not in ("--version", "-h", "--help"):
        command += ["--profiles-dir", str(DBT_PROJECT_DIR), "--target", settings.target]
    return subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(run_dbt(sys.argv[1:]))
