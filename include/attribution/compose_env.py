"""``make env``: the ``.env`` that docker compose reads, with fresh secrets.

Starts from ``.env.example``; every empty secret gets a new random value (Fernet key, JWT secret,
admin and Postgres passwords), values already in ``.env`` are kept, so running it again changes
nothing. The file is written with mode 600.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from attribution.settings import PROJECT_ROOT

GENERATORS = {
    "AIRFLOW_FERNET_KEY": lambda: Fernet.generate_key().decode(),
    "AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    "AIRFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(16),
    "POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(24),
    "AIRFLOW_UID": lambda: str(os.getuid()),
}


def read_env(path: Path) -> dict[str, str]:
    """The ``KEY=value`` pairs of an env file (none when it does not exist)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def write_env(target: Path, example: Path) -> dict[str, str]:
    """Write ``target`` from ``example``, keeping values already in ``target``; returns what was generated."""
    existing, generated, lines = read_env(target), {}, []
    for line in example.read_text().splitlines():
        key, sep, value = line.partition("=")
        if line.startswith("#") or not sep:
            lines.append(line)
            continue
        key = key.strip()
        value = existing.get(key) or value.strip()
        if not value and key in GENERATORS:
            value = generated[key] = GENERATORS[key]()
        lines.append(f"{key}={value}")
    lines += [f"{key}={value}" for key, value in existing.items() if key not in read_env(example)]
    target.write_text("\n".join(lines) + "\n")
    target.chmod(0o600)
    return generated


def main() -> int:
    target = PROJECT_ROOT / ".env"
    generated = write_env(target, PROJECT_ROOT / ".env.example")
    print(f"{target}: {', '.join(generated) + ' generated' if generated else 'already complete, unchanged'}")
    if "AIRFLOW_ADMIN_PASSWORD" in generated:
        print("Airflow UI login: admin / the AIRFLOW_ADMIN_PASSWORD in .env")
    return 0


if __name__ == "__main__":
    sys.exit(main())
