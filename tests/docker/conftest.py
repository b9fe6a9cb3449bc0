"""Real Docker + gVisor for the sandbox tests: installed (apt) and started here when absent, images built locally."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, new_account, running_stack

DAEMON_JSON = Path("/etc/docker/daemon.json")
# gVisor's own network stack fails in this old runsc on new kernels (gVisor issue 10704); --network=host makes
# runsc use the container's own network namespace (Docker's bridge still isolates it). ptrace: the only platform
# that works here. Kept in configuration, not code: current gVisor releases need neither.
RUNTIMES = {
    "runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]},
}


# Learners' homes in the tests: small, as filling one is an attack case.
HOME_SIZE = "300M"


def _docker_ok() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_runsc() -> None:
    """gVisor's runsc, for the grading sandboxes that run it without Docker (installed with Docker otherwise)."""
    if not shutil.which("runsc"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", "runsc"], check=True, capture_output=True, env=env)


def ensure_docker() -> None:
    """Install Docker, gVisor and debootstrap if missing, register the runsc runtime, start dockerd."""
    if not (shutil.which("dockerd") and shutil.which("runsc") and shutil.which("debootstrap")):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "docker.io", "runsc", "debootstrap"],
            check=True,
            capture_output=True,
            env=env,
        )
    config = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.exists() else {}
    if any(config.get("runtimes", {}).get(k) != v for k, v in RUNTIMES.items()):
        config["runtimes"] = {**config.get("runtimes", {}), **RUNTIMES}
        DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
        DAEMON_JSON.write_text(json.dumps(config, indent=2))
        subprocess.run(["pkill", "-HUP", "-x", "dockerd"], capture_output=True)
    if not _docker_ok():
        log = open(ROOT / "var" / "dockerd.log", "ab")  # noqa: SIM115
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            if _docker_ok():
                break
            time.sleep(0.2)
    info = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True)
    if "runsc" not in info.stdout:
        raise RuntimeError(f"dockerd has no runsc runtime: {info.stdout}{info.stderr}")


def build_images(*names: str) -> list[str]:
    """Build (if missing) the named images with images/build.sh; return their content-hash tags."""
    result = subprocess.run(["bash", str(ROOT / "images" / "build.sh"), *names], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"images/build.sh failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-len(names) :]


def build_learner_image() -> str:
    return build_images("learner")[0]


@contextmanager
def docker_learners_stack(image: str, runtime: str = "runsc", **env: str):
    """The real portal and hub, with learners in containers (``runtime``) on a network of their own."""
    from embedded import free_port

    network = prefix = f"studio-test-{secrets.token_hex(3)}"  # containers, volumes, network: all ours by name
    subprocess.run(
        ["docker", "network", "create", "--internal", "-o", "com.docker.network.bridge.enable_icc=false", network],
        check=True,
        capture_output=True,
    )
    inspect = ["docker", "network", "inspect", network, "--format", "{{(index .IPAM.Config 0).Gateway}}"]
    gateway = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip()
    hub_api = f"http://{gateway}:{free_port()}"  # the learners' side of the hub API: on their network's gateway
    env = {
        "STUDIO_SPAWNER": "docker",
        "STUDIO_LEARNER_IMAGE": image,
        "STUDIO_DOCKER_NETWORK": network,
        "STUDIO_DOCKER_RUNTIME": runtime,
        "STUDIO_DOCKER_PREFIX": prefix,
        "STUDIO_HUB_BIND_URL": hub_api,
        "STUDIO_HUB_CONNECT_URL": hub_api,
        "STUDIO_HOME_SIZE": HOME_SIZE,
        "STUDIO_GRADING_SANDBOX": "docker",
        **env,
    }

    def cleanup(stack) -> None:
        remove_learner_resources(prefix, network, show_logs=True, var=stack.var)

    try:
        with running_stack(f"docker-{runtime}", env, after_stop=cleanup) as s:
            s.network = network
            s.container_prefix = prefix
            yield s
    finally:
        remove_learner_resources(prefix, network)  # if the stack never came up


def waiting_containers(stack) -> list[str]:
    """Ids of the pooled containers that have imported Jupyter and wait for a learner."""
    ids = subprocess.run(
        ["docker", "ps", "-q", "--no-trunc", "--filter", f"name={stack.container_prefix}-warm-"],
        capture_output=True,
        text=True,
    ).stdout.split()
    logs = {cid: subprocess.run(["docker", "logs", cid], capture_output=True, text=True).stderr for cid in ids}
    return [cid for cid, log in logs.items() if "waiting on" in log]


def remove_learner_resources(prefix: str, network: str, *, show_logs: bool = False, var: Path | None = None) -> None:
    """What the hub creates outside any compose file: learners' containers and home volumes (named ``prefix``-…),
    their network and its firewall chain; and the homes mounted into warm containers below ``var``."""
    from studio_hub import homes
    from studio_hub.docker import remove_host_firewall

    for cid in subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name={prefix}-"], capture_output=True, text=True
    ).stdout.split():
        if show_logs:
            logs = subprocess.run(["docker", "logs", "--tail", "30", cid], capture_output=True, text=True)
            print(f"--- container {cid} ---\n{logs.stdout}{logs.stderr}")
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    network_id = subprocess.run(
        ["docker", "network", "inspect", "-f", "{{.Id}}", network], capture_output=True, text=True
    ).stdout.strip()
    if network_id:
        remove_host_firewall(network_id)
    subprocess.run(["docker", "network", "rm", network], capture_output=True)
    for volume in subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", f"name={prefix}-home-"], capture_output=True, text=True
    ).stdout.split():
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)
    if var is not None:
        homes.unmount_all(Path(var))  # warm containers' homes, and the shared mount point holding them
    # Bounded homes' loop devices (their image files may be deleted already: matched by name).
    loops = subprocess.run(
        ["losetup", "--list", "--noheadings", "--raw", "--output", "NAME,BACK-FILE"], capture_output=True, text=True
    ).stdout.splitlines()
    for device, back_file in (line.split(" ", 1) for line in loops if " " in line):
        if f"/{prefix}-home-" in back_file:
            subprocess.run(["losetup", "--detach", device], capture_output=True)


@pytest.fixture(scope="session")
def docker_engine():
    if os.geteuid() != 0:
        pytest.skip("installing and starting Docker needs root")
    ensure_docker()


@pytest.fixture(scope="session")
def learner_image(docker_engine) -> str:
    return build_learner_image()


@pytest.fixture(scope="session")
def docker_stack(learner_image):
    with docker_learners_stack(learner_image) as s:
        yield s


def new_learner(stack, username: str, course: str = "intro-python") -> str:
    """A student of ``course`` besides the demo accounts (each destructive test gets its own); returns the
    password."""
    return new_account(stack, username, course)


@pytest.fixture(scope="module", params=["gvisor", "runsc", "bwrap"])
def pool(request):
    """One pooled grading sandbox (256 MiB a job) for a module's jobs: in a gVisor container, in gVisor's runsc
    without Docker, and in bubblewrap on this machine (the embedded default's engines, without Docker): every
    guarantee is checked on all three."""
    from studio_grader.sandbox import SandboxPool, SandboxSpec, engine_problem

    if request.param in ("bwrap", "runsc"):
        if request.param == "runsc":
            ensure_runsc()
        if problem := engine_problem(request.param):
            pytest.fail(f"the {request.param} grading sandbox cannot run here: {problem}")
        spec = SandboxSpec(engine=request.param, job_memory_mib=256, memory_mib=768)
    else:
        spec = SandboxSpec(image=request.getfixturevalue("learner_image"), job_memory_mib=256, memory_mib=768)
    p = SandboxPool(spec, size=1, mode="pooled")
    yield p
    p.close()
