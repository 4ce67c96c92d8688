"""`make setup` on a machine without Python 3.11: uv is let download a managed 3.11, and where it cannot,
setup stops with one sentence saying what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from servers import in_thread

from attribution.settings import PROJECT_ROOT


def test_setup_without_python_3_11_asks_uv_for_one_then_says_what_to_install(tmp_path: Path):
    for name in ("Makefile", "requirements.lock", "requirements-dbt.lock"):
        shutil.copy(PROJECT_ROOT / name, tmp_path)
    asked: list[str] = []

    class Mirror(BaseHTTPRequestHandler):  # a Python download mirror that has nothing
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_error(404)

        def log_message(self, *args) -> None:
            pass

    uv = shutil.which("uv") or str(PROJECT_ROOT / ".tools" / "bin" / "uv")
    with in_thread(Mirror) as server:
        env = {
            **os.environ,
            "PATH": f"{Path(uv).parent}:{os.environ['PATH']}",
            "UV_PYTHON_PREFERENCE": "only-managed",  # as on a machine with no Python 3.11 at all
            "UV_PYTHON_INSTALL_DIR": str(tmp_path / "pythons"),
            "UV_PYTHON_INSTALL_MIRROR": f"http://127.0.0.1:{server.server_port}",
        }
        command = [shutil.which("make") or "make", "setup", "PYTHON=/nonexistent/python3.11"]
        setup = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert setup.returncode != 0
    assert any("cpython-3.11" in path for path in asked), f"uv did not try to download a 3.11: {asked}"
    last_line = setup.stderr.strip().splitlines()[-2]  # then make's own "Error 1" line
    assert last_line.startswith("make setup needs Python 3.11") and "apt install python3.11" in last_line, setup.stderr
    assert not (tmp_path / ".venv" / "bin" / "python").exists()
