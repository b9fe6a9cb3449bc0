"""Start an IPython kernel with its own memory cap, below the container's.

Under gVisor a container that runs out of memory dies whole, Jupyter server and all. With the kernel's address
space capped (RLIMIT_AS, from $STUDIO_KERNEL_MEMORY bytes), a runaway allocation fails inside the kernel as a
plain ``MemoryError`` that the learner sees in their notebook, and everything else keeps running.

    python -m studio_ext.kernel_launcher -f {connection_file}
"""

from __future__ import annotations

import os
import resource
import sys


def main() -> None:
    limit = os.environ.get("STUDIO_KERNEL_MEMORY", "")
    if limit.isdigit() and int(limit) > 0:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[1:]])


if __name__ == "__main__":
    main()
