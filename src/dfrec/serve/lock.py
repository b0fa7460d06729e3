"""One ``dfrec serve`` per data folder: the lock ``DATA/serve.lock``.

The same lock as ``dfrec recover``'s ``OUT/.dfrec/lock`` (:func:`dfrec.io.hold_lock`):
``flock`` on a file that holds the holder's process id and start time. The kernel releases
the lock when the process ends, however it ends (even SIGKILL), so a crashed server never
blocks the next start; a second server on a folder in use stops at once, naming the first,
before it touches anything (start-up recovery and clean-up run only under the lock).

The worker process gets a duplicate of the descriptor (:class:`HeldLock` pickles as one):
the lock is held until the web process *and* its worker have exited, so a new server cannot
start beside a worker that outlived a killed web process.
"""

from __future__ import annotations

import os
from pathlib import Path

from dfrec.errors import OutputError, shown
from dfrec.io import hold_lock

LOCK_NAME = "serve.lock"


class HeldLock:
    """The locked descriptor ``fd``; :meth:`release` closes it. Passed to a process started
    with ``multiprocessing`` (spawn), it arrives as a duplicate that holds the same lock."""

    def __init__(self, fd: int | None):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def __reduce__(self):
        from multiprocessing import reduction

        return _rebuild, (reduction.DupFd(self.fd) if self.fd is not None else None,)


def _rebuild(dup) -> HeldLock:
    return HeldLock(dup.detach() if dup is not None else None)


def lock_data_folder(data: str | os.PathLike) -> HeldLock:
    """Create ``data`` if needed and lock it for this server. Raises :class:`OutputError`
    (exit 2) naming the holder when another ``dfrec serve`` uses the folder."""
    data = Path(data)
    busy = f"{shown(data)}: another dfrec serve ({{holder}}) is using this data folder; stop it first or choose another --data"
    try:
        data.mkdir(parents=True, exist_ok=True)
        return HeldLock(hold_lock(data / LOCK_NAME, busy))
    except OSError as e:
        raise OutputError(f"{shown(data)}: cannot use this folder for the server's data "
                          f"({(e.strerror or str(e)).lower()})") from None
