"""SandboxedDockerSpawner without Docker: the reasons a learner is given, and what reaches the kernel."""

from __future__ import annotations

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
