"""One deploy or rollback at a time on a target.

Without it, two deploys each clear the other's partial upload, and a rollback during
a deploy can activate a version that is being pruned. The lock is an flock on
`<target>/.deploy.lock` (over SSH, held by a remote `cat` that lives as long as the
session), which the operating system releases when its holder exits, however it
exits: a killed deploy leaves no stale lock, so nothing ever has to guess whether a
holder is still alive and break its lock. The file stays; it only records the last
holder's time, pid and host, for the message a refused deploy prints.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone

from .deploy_error import DeployError
from .transport import LockHeld, Target

LOCK_NAME = ".deploy.lock"


@contextmanager
def deploy_lock(target: Target) -> Iterator[None]:
    """Hold the target's deploy lock, or refuse at once if another deploy holds it."""
    now = datetime.now(timezone.utc)
    holder = f"since {now:%Y-%m-%d %H:%M:%S} UTC (pid {os.getpid()} on {socket.gethostname()})"
    with ExitStack() as held:
        try:
            held.enter_context(target.lock(LOCK_NAME, holder))
        except LockHeld as other:
            raise DeployError(
                f"another deploy holds the lock on {target.description} {other.holder}".rstrip()
                + ": try again once it has finished"
            ) from None
        yield
