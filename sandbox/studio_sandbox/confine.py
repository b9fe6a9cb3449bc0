"""The system calls a job may make, where nothing but its own kernel stands between it and this machine's.

In a gVisor container every system call of a job is answered by gVisor's own kernel. The bubblewrap engine (a
machine without Docker) has no such layer: a job's calls reach the machine's kernel. So there, every job's
processes (student, judge, AUTOTEST expansion) run under a seccomp filter that refuses what no notebook needs and
what kernel exploits and sandbox escapes are made of, as Docker's default profile does: new namespaces (a user
namespace gives "root" in it and the kernel's whole namespaced surface), ptrace and reading other processes'
memory, kernel keyrings, BPF, perf events, userfaultfd, io_uring, mounting, modules, clocks, reboot. ``clone3`` is
answered "not implemented", so that the C library falls back to ``clone``, whose flags the filter can read.

The filter is libseccomp's (through pyseccomp); it is applied after the job has become its own unprivileged uid,
with no_new_privs set, and is inherited by everything the job starts.
"""

from __future__ import annotations

import errno
import os

# Refused with EPERM: namespaces, tracing, the kernel's rarer interfaces, and what only an administrator does.
DENIED = (
    "unshare",
    "setns",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "personality",
    "iopl",
    "ioperm",
    "vhangup",
    "lookup_dcookie",
    "nfsservctl",
    "uselib",
    "sethostname",
    "setdomainname",
)
# clone()'s flags that make new namespaces: user, mount, pid, net, ipc, uts, cgroup, time.
NEW_NAMESPACES = (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x08000000, 0x04000000, 0x02000000, 0x00000080)


def wanted() -> bool:
    """The sandbox asked for the filter (the bubblewrap engine sets STUDIO_SANDBOX_SECCOMP=1)."""
    return os.environ.get("STUDIO_SANDBOX_SECCOMP") == "1"


def restrict() -> None:
    """Apply the filter to this process and what it starts. Raises if it cannot be applied: a job never runs
    without it where it was asked for."""
    import pyseccomp as seccomp

    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENIED:
        try:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
        except (ValueError, OSError):  # a call this kernel's architecture does not have
            continue
    for flag in NEW_NAMESPACES:  # one rule each: any of them set refuses the call
        f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    f.load()
