"""Children that end with their parent, even when the parent is killed with SIGKILL.

    subprocess.Popen(args, preexec_fn=die_with_parent(signal.SIGTERM), start_new_session=True)

Linux's `prctl(PR_SET_PDEATHSIG)` asks the kernel to send the child `sig` when the thread that
started it ends, however it ends; so start children from the main thread. A parent gone before
the child set it is caught by comparing the child's parent id with the one it was started from.
Elsewhere (no prctl) the child keeps running after a SIGKILL of its parent; a clean stop still
stops it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that has the child receive `sig` when this process dies (None off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only calls it
    prctl = libc.prctl
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return set_parent_death_signal


def kill_own_group_on(sig: signal.Signals) -> None:
    """On `sig`, SIGKILL this process' whole process group (itself and what it started).

    The local runner gets this as its parent-death signal: its flow-run processes are in its
    group, and must not outlive it to run a job that the next `datagems up` resumes elsewhere.
    """

    def kill_group(signum: int, frame: object) -> None:
        del signum, frame
        os.killpg(os.getpgrp(), signal.SIGKILL)

    signal.signal(sig, kill_group)
