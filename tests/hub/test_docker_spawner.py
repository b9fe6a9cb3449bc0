"""SandboxedDockerSpawner without Docker: the reasons a learner is given, and what reaches the kernel."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio_hub.docker import SandboxedDockerSpawner, exit_reason


@pytest.mark.parametrize(
    ("state", "runtime", "says"),
    [
        ({"OOMKilled": True, "ExitCode": 137}, "runsc", "ran out of memory"),
        ({"OOMKilled": False, "ExitCode": 137}, "runc", "ran out of memory"),  # killed by the OOM killer inside
        ({"OOMKilled": False, "ExitCode": 2}, "runsc", "too many processes"),
        ({"OOMKilled": False, "ExitCode": 2}, "runc", "exit code 2"),  # runc keeps a container at its pids limit
        ({"OOMKilled": False, "ExitCode": 1}, "runsc", "stopped unexpectedly (exit code 1)"),
    ],
)
def test_exit_reason_in_plain_words(state, runtime, says):
    assert says in exit_reason(state, runtime)


def test_hardened_defaults_leave_room_for_gvisor_tasks():
    s = SandboxedDockerSpawner()
    host = s.extra_host_config
    assert host["runtime"] == "runsc" and host["cap_drop"] == ["ALL"] and host["read_only"]
    # ~20 host tasks per running sandboxed process: the kernel's own limit must sit well below the container's.
    assert host["pids_limit"] == s.pids_limit == 2048 and s.kernel_process_limit * 20 < s.pids_limit - 100


class _Spawner:
    def __init__(self, reason: str, active: bool):
        self.stopped_reason, self.active = reason, active


class _User:
    def __init__(self, spawner=None):
        self.spawners = {"": spawner} if spawner else {}
        self.orm_user = type("OrmUser", (), {"orm_spawners": dict(self.spawners)})


@pytest.mark.parametrize(
    ("user", "shown"),
    [
        (None, False),  # signed out
        (_User(), False),  # never started a server
        (_User(_Spawner("", active=False)), False),  # stopped by the learner, the culler or an admin
        (_User(_Spawner("it ran out of memory.", active=True)), False),  # started again
        (_User(_Spawner("it ran out of memory.", active=False)), True),
    ],
)
def test_server_notice_only_while_a_server_that_died_is_down(user, shown):
    from studio_hub.notices import server_notice

    notice = server_notice(user)
    assert ("ran out of memory" in notice) is shown and bool(notice) is shown


def test_server_notice_escapes_the_reason():
    from studio_hub.notices import server_notice

    notice = server_notice(_User(_Spawner("exit code <script>alert(1)</script>", active=False)))
    assert "<script>" not in notice and "&lt;script&gt;" in notice


def test_the_reason_a_server_stopped_outlives_the_spawner_object_until_the_next_start():
    """JupyterHub replaces a spawner once its server stopped; the reason travels in the saved state."""
    from types import SimpleNamespace

    user = SimpleNamespace(name="memhog", id=7)
    old = SandboxedDockerSpawner(user=user)
    old.stopped_reason = "it ran out of memory."
    old.clear_state()  # what the hub does after a server stopped
    new = SandboxedDockerSpawner(user=user)
    new.load_state(old.get_state())
    assert new.stopped_reason == "it ran out of memory."
    new.stopped_reason = ""  # start() does this
    assert "stopped_reason" not in new.get_state()


def test_wait_listening_returns_once_a_port_accepts_and_gives_up_after_the_timeout():
    import asyncio

    from studio_hub.docker import wait_listening

    async def scenario():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        assert await wait_listening("127.0.0.1", port, timeout=0.3) is False  # nothing listens

        async def listen_later():
            await asyncio.sleep(0.3)
            return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)

        later = asyncio.ensure_future(listen_later())
        t0 = asyncio.get_running_loop().time()
        assert await wait_listening("127.0.0.1", port, timeout=5) is True
        assert asyncio.get_running_loop().time() - t0 < 1  # found within a poll or two of listening
        (await later).close()

        # What should listen is gone (a container that died while starting): give up at the next check, not at
        # the timeout.
        checks = []

        async def dead():
            checks.append(1)
            return False

        t0 = asyncio.get_running_loop().time()
        assert await wait_listening("127.0.0.1", port, timeout=30, alive=dead) is False
        assert asyncio.get_running_loop().time() - t0 < 2.5 and checks == [1]

    asyncio.run(scenario())


def test_pooled_containers_carry_nothing_of_a_learner_and_differ_by_settings():
    def spawner(user: str, image: str, **kw) -> SandboxedDockerSpawner:
        env = {"STUDIO_PORTAL_URL": "http://portal"}
        return SandboxedDockerSpawner(user=SimpleNamespace(name=user), image=image, environment=env, **kw)

    spec, fingerprint = spawner("ada", "studio-learner:a")._warm_spec()
    assert spec["command"] == ["studio-warm-server"] and spec["host"]["runtime"] == "runsc"
    assert spec["environment"]["STUDIO_PORTAL_URL"] == "http://portal"
    assert "ada" not in repr(spec)
    assert spawner("grace", "studio-learner:a")._warm_spec()[1] == fingerprint  # one pool for every learner
    assert spawner("ada", "studio-learner:b")._warm_spec()[1] != fingerprint  # but not across settings
    assert spawner("ada", "studio-learner:a")._warm_spec("sha256:rebuilt")[1] != fingerprint  # nor a rebuilt tag
    assert not spawner("ada", "studio-learner:a", warm_pool_size=2, home_size="").pooled  # needs bounded homes
