"""A Docker engine of the compose test's own, and the images it runs.

Debian's dockerd with its own data root, socket and exec root, started here and stopped by its process
id. It changes nothing in the host's networking: no default bridge, no iptables rules, no IP
forwarding (builds use the host's network; compose's own bridge network is removed by `down`).
`HostState` records what the host had; `stop` removes what dockerd leaves behind (a namespace mount in
its exec root, empty run directories) and the test requires the host unchanged afterwards.

The data root is kept between runs (images, layers), so a second run rebuilds only what changed.
Nothing can be pulled here: the base images are stand-ins built from Debian's packages
(tests/docker/standins/, each labelled as such), the project's image is built from the real Dockerfile
on the Airflow stand-in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from attribution.settings import PROJECT_ROOT

ENGINE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "attribution-compose-test"
STANDINS = Path(__file__).parent / "standins"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")

DEBIAN_IMAGE = "attribution-standin/debian:bookworm"
STANDIN_IMAGES = {  # stand-in directory → the image it stands in for, under a name of its own
    "airflow": "attribution-standin/airflow:3.3.2-python3.11",
    "postgres": "attribution-standin/postgres:16",
    "redis": "attribution-standin/redis:7.2-bookworm",
}
PROJECT_IMAGE = "attribution-airflow:compose-test"


def _docker_cli() -> str:
    """Debian's client, beside its dockerd (another client earlier on PATH may not speak its API)."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker") or "docker"


# Directories dockerd and its containerd create outside their own roots, whatever the flags.
ENGINE_RUN_DIRS = (Path("/run/docker"), Path("/run/containerd"))


def _mount_points() -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]


@dataclass(frozen=True)
class HostState:
    """What of the host an engine could leave changed: links, firewall rules, IP forwarding, mounts, run dirs."""

    links: frozenset[str]
    rules: str
    ip_forward: str
    mounts: frozenset[str]
    run_dirs: frozenset[Path]

    @classmethod
    def read(cls) -> HostState:
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        return cls(
            links=frozenset(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()),
            rules="\n".join(line for line in rules.splitlines() if not line.startswith("#")),  # drop timestamps
            ip_forward=Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
            mounts=frozenset(_mount_points()),
            run_dirs=frozenset(path for path in ENGINE_RUN_DIRS if path.exists()),
        )


class DockerEngine:
    def __init__(self, home: Path = ENGINE_HOME) -> None:
        self.home = home
        self.run_dir = Path(tempfile.mkdtemp(prefix="attribution-docker-"))  # sockets: a short path
        self.socket = self.run_dir / "docker.sock"
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}
        self.process: subprocess.Popen | None = None
        self.before: HostState | None = None

    def start(self) -> None:
        self.before = HostState.read()
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.run_dir / "dockerd.log").open("wb")
        self.process = subprocess.Popen(
            [shutil.which("dockerd") or "/usr/sbin/dockerd", "--data-root", str(self.home / "engine"),
             "--exec-root", str(self.run_dir / "exec"), "--pidfile", str(self.run_dir / "dockerd.pid"),
             "--host", f"unix://{self.socket}", "--bridge=none", "--iptables=false", "--ip-forward=false",
             "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while self.docker("info", check=False).returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start:\n{self.log()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop dockerd by its process id (it stops its containerd), then anything left in its group."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        for mount in reversed(_mount_points()):  # dockerd leaves its exec root's netns/default mounted
            if mount.startswith(f"{self.run_dir}/"):
                subprocess.run(["umount", "--lazy", mount], check=False)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        for path in ENGINE_RUN_DIRS:
            if self.before is not None and path not in self.before.run_dirs:
                shutil.rmtree(path, ignore_errors=True)

    def log(self) -> str:
        path = self.run_dir / "dockerd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def docker(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
        result = subprocess.run([_docker_cli(), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def build(self, tag: str, context: Path, *build_args: str) -> None:
        """`docker build` on the host's network (the engine has no bridge of its own)."""
        args = [arg for value in build_args for arg in ("--build-arg", value)]
        self.docker("build", "--quiet", "--network", "host", "--tag", tag, *args, str(context))

    def build_images(self) -> dict[str, float]:
        """The Debian base (debootstrap, once per data root), the stand-ins, then the project's image from
        the real Dockerfile on the Airflow stand-in. Seconds each step took."""
        seconds: dict[str, float] = {}
        started = time.monotonic()
        if not self.has_image(DEBIAN_IMAGE):
            self._import_debian()
        seconds["debian base"] = time.monotonic() - started
        for name, tag in STANDIN_IMAGES.items():
            started = time.monotonic()
            with tempfile.TemporaryDirectory() as context:
                shutil.copytree(STANDINS / name, context, dirs_exist_ok=True)
                if name == "airflow":  # the machine's CA bundle, for PyPI from build steps; never committed
                    shutil.copy(HOST_CA_BUNDLE, Path(context) / "host-ca-bundle.pem")
                self.build(tag, Path(context))
            seconds[f"{name} stand-in"] = time.monotonic() - started
        started = time.monotonic()
        self.build(PROJECT_IMAGE, PROJECT_ROOT, f"AIRFLOW_IMAGE={STANDIN_IMAGES['airflow']}")
        seconds["project image"] = time.monotonic() - started
        self.docker("image", "prune", "--force")  # earlier builds' untagged layers: the data root stays bounded
        return seconds

    def image_size(self, name: str) -> int:
        return int(self.docker("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())

    def _import_debian(self) -> None:
        """Debian bookworm's minimal system from Debian's packages, imported as the stand-ins' base."""
        with tempfile.TemporaryDirectory(dir=self.home) as work:
            rootfs = Path(work) / "rootfs"
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), DEBIAN_MIRROR],
                           check=True, capture_output=True, timeout=1800)  # fmt: skip
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run([_docker_cli(), "import", "-", DEBIAN_IMAGE], stdin=tar.stdout, env=self.env,
                           check=True, capture_output=True)  # fmt: skip
            tar.wait()
