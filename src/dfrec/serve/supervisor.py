"""The analysis process of ``dfrec serve``: started in its own (spawned) process, restarted when it
dies (its running job is marked interrupted), stopped on shutdown."""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import time
from typing import Any

from dfrec.serve.config import ServeConfig
from dfrec.serve.jobs import JobStore
from dfrec.serve.lock import HeldLock

RESTARTS_MAX = 5


class WorkerSupervisor:
    """Starts the worker process, restarts it if it dies (marking its job interrupted), stops it."""

    def __init__(self, cfg: ServeConfig, store: JobStore, lock: HeldLock | None = None):
        self.cfg = cfg
        self.store = store
        self.lock = lock  # the data folder's lock: each worker holds a duplicate while it lives
        self.ctx = mp.get_context("spawn")
        self.proc: Any = None
        self.stop_w: Any = None  # write end of the worker's stop pipe
        self.ready_r: Any = None  # read end of its ready pipe
        self.ready = False
        self.restarts = 0
        self.state = "starting"
        self.error: str | None = None
        self._thread = threading.Thread(target=self._watch, name="dfrec-worker-watch", daemon=True)
        self._stopping = threading.Event()

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        from dfrec.serve.worker import worker_main

        for conn in (self.stop_w, self.ready_r):  # pipes of a previous worker
            if conn is not None:
                conn.close()

        stop_r, self.stop_w = self.ctx.Pipe(duplex=False)
        self.ready_r, ready_w = self.ctx.Pipe(duplex=False)
        self.ready = False
        self.proc = self.ctx.Process(target=worker_main, args=(self.cfg.to_dict(), stop_r, ready_w, self.lock),
                                     name="dfrec-serve-worker", daemon=True)
        self.proc.start()
        stop_r.close()
        ready_w.close()
        self.state = "loading the model"

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            if not self.ready and self.ready_r is not None:
                try:
                    if self.ready_r.poll() and self.ready_r.recv() == "ready":
                        self.ready, self.state = True, "ready"
                except (OSError, EOFError):
                    pass
            if self.proc is not None and not self.proc.is_alive():
                code = self.proc.exitcode
                ids = self.store.mark_interrupted(f"the analysis process stopped unexpectedly (exit code {code}); "
                                                  "re-run the job")
                if ids:
                    print(f"dfrec serve: worker exited ({code}); interrupted job(s) {', '.join(ids)}", file=sys.stderr)
                if (not self.ready and code == 4) or self.restarts >= RESTARTS_MAX:
                    self.state = "stopped"
                    self.error = f"the analysis process could not start (exit code {code}); see the server's log"
                    print(f"dfrec serve: {self.error}", file=sys.stderr)
                    self.proc = None
                    return
                self.restarts += 1
                time.sleep(min(10, 2 ** self.restarts))
                self._spawn()

    def stop(self, grace: float = 15.0) -> None:
        self._stopping.set()
        if self.stop_w is not None:
            try:
                self.stop_w.send("stop")
                self.stop_w.close()
            except OSError:
                pass
        if self.proc is not None:
            self.proc.join(grace)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(5)
        # whatever the worker left running is interrupted (it marks it itself when it can)
        self.store.mark_interrupted("the server stopped while this job was running; re-run it to finish")
