"""Start an IPython kernel with its own memory and process caps, below the container's.

Under gVisor a container that runs out of memory or processes dies whole, Jupyter server and all. With the
kernel's address space capped (RLIMIT_AS, from $STUDIO_KERNEL_MEMORY bytes), a runaway allocation fails inside the
kernel as a plain ``MemoryError`` that the learner sees in their notebook. With $STUDIO_KERNEL_PROCESSES set, a
:class:`~studio_ext.process_guard.ProcessGuard` keeps the kernel's processes under that number. Everything else
keeps running.

    python -m studio_ext.kernel_launcher -f {connection_file}
"""

from __future__ import annotations

import os
import resource
import runpy
import sys


def _positive(name: str) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else 0


def main() -> None:
    memory = _positive("STUDIO_KERNEL_MEMORY")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    processes = _positive("STUDIO_KERNEL_PROCESSES")
    if not processes:
        os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[1:]])
    # The guard lives in the kernel's own process (an audit hook and a watchdog thread): run ipykernel here.
    from .process_guard import ProcessGuard

    os.environ.pop("STUDIO_KERNEL_PROCESSES")  # not inherited by what the learner starts from the kernel
    ProcessGuard(processes).install()
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
