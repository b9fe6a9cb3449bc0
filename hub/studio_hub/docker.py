"""SandboxedDockerSpawner: each learner's server in its own hardened container, run by gVisor (runsc).

DockerSpawner does the container life cycle; this class only sets hardened defaults (every one a traitlet an
operator can change) and makes sure the learners' network exists before the first start.
"""

from __future__ import annotations

from docker.errors import NotFound
from dockerspawner import DockerSpawner
from traitlets import Int, Unicode, default


class SandboxedDockerSpawner(DockerSpawner):
    runtime = Unicode(
        "runsc",
        config=True,
        help="""Docker runtime for learners' containers. Default "runsc" (gVisor), registered in
        /etc/docker/daemon.json. Example: c.SandboxedDockerSpawner.runtime = "runsc"
        """,
    )

    learner_uid = Int(
        1000,
        config=True,
        help="""Uid the server runs as inside the container (the image's learner). Default 1000.
        Example: c.SandboxedDockerSpawner.learner_uid = 1000
        """,
    )

    pids_limit = Int(
        256,
        config=True,
        help="""Most processes/threads one learner's container may have. Default 256.
        Example: c.SandboxedDockerSpawner.pids_limit = 512
        """,
    )

    cpu_shares = Int(
        512,
        config=True,
        help="""Relative CPU weight (Docker's default is 1024). A weight, not a quota: a tight quota triples
        Jupyter's start-up, a weight only matters when the machine is busy. Default 512.
        Example: c.SandboxedDockerSpawner.cpu_shares = 256
        """,
    )

    tmp_size = Unicode(
        "256m",
        config=True,
        help="""Size of the container's /tmp (a tmpfs; the root filesystem is read-only). Default "256m".
        Example: c.SandboxedDockerSpawner.tmp_size = "128m"
        """,
    )

    home_dir = Unicode(
        "/home/learner",
        config=True,
        help="""The learner's home inside the container, a named volume per user. Default "/home/learner".
        Example: c.SandboxedDockerSpawner.home_dir = "/home/learner"
        """,
    )

    @default("mem_limit")
    def _default_mem_limit(self):
        return "1G"

    @default("remove")
    def _default_remove(self) -> bool:
        return True  # state lives in the home volume, not in the container

    @default("prefix")
    def _default_prefix(self) -> str:
        return "studio-learner"

    @default("volumes")
    def _default_volumes(self) -> dict:
        # A named volume is filled from the image's home (owned by the learner) the first time it is mounted.
        return {f"{self.prefix}-home-{{username}}": self.home_dir}

    @default("notebook_dir")
    def _default_notebook_dir(self) -> str:
        return self.home_dir

    @default("extra_create_kwargs")
    def _default_extra_create_kwargs(self) -> dict:
        return {"user": str(self.learner_uid)}

    @default("extra_host_config")
    def _default_extra_host_config(self) -> dict:
        return {
            "runtime": self.runtime,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": {"/tmp": f"size={self.tmp_size},mode=1777,nosuid,nodev"},
            "pids_limit": self.pids_limit,
            "cpu_shares": self.cpu_shares,
        }

    async def start(self):
        await self._ensure_network()
        return await super().start()

    async def _ensure_network(self) -> None:
        """The learners' network: no route out (internal), and no traffic between learners (no ICC)."""
        if self.network_name in ("", "bridge", "host", "none"):
            return
        try:
            await self.docker("inspect_network", self.network_name)
        except NotFound:
            self.log.info("Creating Docker network %s for learners", self.network_name)
            await self.docker(
                "create_network",
                self.network_name,
                driver="bridge",
                internal=True,
                options={"com.docker.network.bridge.enable_icc": "false"},
                check_duplicate=True,
            )
