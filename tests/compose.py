"""docker-compose.yaml as Debian's docker-compose resolves it (`config` needs no Docker engine)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from attribution.settings import PROJECT_ROOT


def compose_config(directory: Path, env_text: str) -> subprocess.CompletedProcess:
    """`docker-compose config` of the project's compose file with ``env_text`` as its .env, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "docker-compose.yaml", directory)
    (directory / ".env").write_text(env_text)
    compose = shutil.which("docker-compose") or "/usr/bin/docker-compose"  # Debian's, installed by `make test`
    return subprocess.run([compose, "config"], cwd=directory, capture_output=True, text=True)
