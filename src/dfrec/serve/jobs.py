"""Jobs and their inputs, persisted in SQLite (``DATA/serve.sqlite``) beside the job folders.

A *job* is one upload: one or more input files, processed in order by the worker. States::

    job:    queued -> running -> done            (every input finished, each done or failed)
                        |-> interrupted          (the server stopped mid-job; re-runnable)
    input:  pending -> running -> done | failed  (failed: a message says why)
            rejected                             (refused at upload: not an image/video, too big ...)

A job that is not running can be deleted with its folder (a queued one is thereby cancelled):
see :meth:`JobStore.delete`.

The web process creates jobs and reads them; the worker process claims queued jobs and
writes progress. Both open the same database (WAL mode, so readers never wait for the
writer). Nothing is kept only in memory: a restarted server finds every job, marks the
ones that were running as interrupted, and its worker carries on with the queued ones.
"""

from __future__ import annotations

import re
import secrets
import shutil
import sqlite3
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from dfrec.gallery.store import utc_now

JOB_STATES = ("queued", "running", "done", "interrupted")
INPUT_STATES = ("pending", "running", "done", "failed", "rejected")
ACTIVE = ("queued", "running")

#: Job ids: 22 URL-safe characters from 16 random bytes (no enumeration).
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs(
    id TEXT PRIMARY KEY,
    created_utc TEXT NOT NULL,
    queued_seq INTEGER NOT NULL,
    started_utc TEXT,
    finished_utc TEXT,
    status TEXT NOT NULL,
    message TEXT,
    runs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, queued_seq);
CREATE TABLE IF NOT EXISTS inputs(
    job_id TEXT NOT NULL REFERENCES jobs(id),
    n INTEGER NOT NULL,
    name TEXT NOT NULL,
    stored TEXT,
    kind TEXT,
    bytes INTEGER,
    status TEXT NOT NULL,
    message TEXT,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT,
    faces INTEGER,
    max_score REAL,
    PRIMARY KEY(job_id, n)
);
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class QueueFull(Exception):
    """Raised by :meth:`JobStore.create` when ``max_queue`` jobs are waiting or running."""


class JobRunning(Exception):
    """Raised by :meth:`JobStore.delete` for a job the worker is analysing."""


def new_job_id() -> str:
    return secrets.token_urlsafe(16)


class JobStore:
    """SQLite access for jobs; one instance per process (thread-safe)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._con = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        self._con.row_factory = sqlite3.Row
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._con.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction (takes the write lock up front: no check-then-act races)."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def _next_seq(self, con: sqlite3.Connection) -> int:
        con.execute("INSERT INTO counters(name, value) VALUES ('queue', 1) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + 1")
        return int(con.execute("SELECT value FROM counters WHERE name='queue'").fetchone()[0])

    # ------------------------------------------------------------------ web side
    def active_count(self) -> int:
        with self._lock:
            return int(self._con.execute(
                f"SELECT COUNT(*) FROM jobs WHERE status IN ({','.join('?' * len(ACTIVE))})", ACTIVE).fetchone()[0])

    def create(self, job_id: str, inputs: list[dict[str, Any]], max_queue: int) -> None:
        """Insert a queued job with its inputs (``name, stored, kind, bytes, status, message``);
        raises :class:`QueueFull` when ``max_queue`` jobs are already active."""
        with self._tx() as con:
            active = con.execute(f"SELECT COUNT(*) FROM jobs WHERE status IN ({','.join('?' * len(ACTIVE))})",
                                 ACTIVE).fetchone()[0]
            if active >= max_queue:
                raise QueueFull(active)
            con.execute("INSERT INTO jobs(id, created_utc, queued_seq, status) VALUES (?,?,?, 'queued')",
                        (job_id, utc_now(), self._next_seq(con)))
            con.executemany(
                "INSERT INTO inputs(job_id, n, name, stored, kind, bytes, status, message) VALUES (?,?,?,?,?,?,?,?)",
                [(job_id, i + 1, d["name"], d.get("stored"), d.get("kind"), d.get("bytes"),
                  d.get("status", "pending"), d.get("message")) for i, d in enumerate(inputs)])

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job with its inputs and overall progress, or ``None``."""
        if not JOB_ID.match(job_id or ""):
            return None
        with self._lock:
            row = self._con.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            inputs = [dict(r) for r in self._con.execute("SELECT * FROM inputs WHERE job_id = ? ORDER BY n", (job_id,))]
        job = dict(row)
        job["inputs"] = inputs
        job.update(_progress(job))
        return job

    def list(self, limit: int = 200) -> list[dict[str, Any]]:
        """Jobs, newest first, each with its inputs' names, counts and overall progress."""
        with self._lock:
            jobs = [dict(r) for r in self._con.execute("SELECT * FROM jobs ORDER BY rowid DESC LIMIT ?",
                                                       (int(limit),))]  # creation order
            if not jobs:
                return []
            marks = ",".join("?" * len(jobs))
            rows = [dict(r) for r in self._con.execute(f"SELECT * FROM inputs WHERE job_id IN ({marks}) ORDER BY n",
                                                       [j["id"] for j in jobs])]
        by_job: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_job.setdefault(r["job_id"], []).append(r)
        for j in jobs:
            j["inputs"] = by_job.get(j["id"], [])
            j.update(_progress(j))
        return jobs

    def rerun(self, job_id: str, max_queue: int) -> bool:
        """Queue an interrupted job again (its unfinished inputs); ``False`` if it is not interrupted."""
        with self._tx() as con:
            row = con.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] != "interrupted":
                return False
            active = con.execute(f"SELECT COUNT(*) FROM jobs WHERE status IN ({','.join('?' * len(ACTIVE))})",
                                 ACTIVE).fetchone()[0]
            if active >= max_queue:
                raise QueueFull(active)
            con.execute("UPDATE jobs SET status='queued', message=NULL, finished_utc=NULL, queued_seq=? WHERE id=?",
                        (self._next_seq(con), job_id))
            con.execute("UPDATE inputs SET status='pending', progress=0, stage=NULL, message=NULL "
                        "WHERE job_id=? AND status IN ('pending', 'running')", (job_id,))
        return True

    def delete(self, job_id: str, folder: Path, trash: Path) -> str | None:
        """Delete a job that is not running and its ``folder``; returns its status before
        (``queued``: cancelled) or ``None`` when there is no such job; raises :class:`JobRunning`.

        In one transaction (the worker cannot claim the job meanwhile, nor ever after) the
        folder is renamed into ``trash`` (same file system: atomic) and the rows are removed;
        then the files are removed. Files a crash leaves in ``trash`` go at the next start
        (:func:`empty_trash`)."""
        if not JOB_ID.match(job_id or ""):
            return None
        trash.mkdir(parents=True, exist_ok=True)
        moved = trash / f"{job_id}.{secrets.token_hex(4)}"
        try:
            with self._tx() as con:
                row = con.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is None:
                    return None
                if row[0] == "running":
                    raise JobRunning(job_id)
                if folder.exists():
                    folder.rename(moved)
                con.execute("DELETE FROM inputs WHERE job_id = ?", (job_id,))
                con.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        except BaseException:
            if moved.exists() and not folder.exists():  # the rows are still there: so are the files
                moved.rename(folder)
            raise
        shutil.rmtree(moved, ignore_errors=True)
        if moved.exists():
            print(f"dfrec serve: some files of the deleted job {job_id} could not be removed from {moved}; "
                  "they are removed at the next start", file=sys.stderr)
        return row[0]

    def mark_interrupted(self, message: str, job_id: str | None = None) -> list[str]:
        """Mark running jobs (all, or one) interrupted: at start-up, or when the worker died."""
        with self._tx() as con:
            if job_id is None:
                ids = [r[0] for r in con.execute("SELECT id FROM jobs WHERE status='running'")]
            else:
                ids = [r[0] for r in con.execute("SELECT id FROM jobs WHERE status='running' AND id=?", (job_id,))]
            for jid in ids:
                con.execute("UPDATE jobs SET status='interrupted', message=?, finished_utc=? WHERE id=?",
                            (message, utc_now(), jid))
                con.execute("UPDATE inputs SET status='pending', progress=0, stage=NULL WHERE job_id=? "
                            "AND status='running'", (jid,))
        return ids

    # ------------------------------------------------------------------ worker side
    def claim_next(self) -> dict[str, Any] | None:
        """Take the oldest queued job (marks it running); ``None`` when the queue is empty."""
        with self._tx() as con:
            row = con.execute("SELECT id FROM jobs WHERE status='queued' ORDER BY queued_seq LIMIT 1").fetchone()
            if row is None:
                return None
            con.execute("UPDATE jobs SET status='running', started_utc=?, runs=runs+1, message=NULL WHERE id=?",
                        (utc_now(), row[0]))
        return self.get(row[0])

    def update_input(self, job_id: str, n: int, **fields: Any) -> None:
        """Set columns of one input (``status``, ``message``, ``progress``, ``stage``, ``faces``, ``max_score``)."""
        allowed = {"status", "message", "progress", "stage", "faces", "max_score"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"unknown input fields {sorted(bad)}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as con:
            con.execute(f"UPDATE inputs SET {cols} WHERE job_id = ? AND n = ?", [*fields.values(), job_id, n])

    def finish(self, job_id: str, status: str = "done", message: str | None = None) -> None:
        if status not in JOB_STATES:
            raise ValueError(status)
        with self._tx() as con:
            con.execute("UPDATE jobs SET status=?, message=?, finished_utc=? WHERE id=?",
                        (status, message, utc_now(), job_id))


def empty_trash(trash: Path) -> int:
    """Remove what deletions left in ``trash`` (a crash between renaming and removing);
    returns the number of folders removed."""
    left = sorted(trash.iterdir()) if trash.is_dir() else []
    for p in left:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(left)


def sweep_orphans(jobs: Path, store: "JobStore", trash: Path) -> int:
    """Move into ``trash`` what a crash left in ``jobs``: half-stored uploads (``.incoming-*``)
    and case folders without a row in ``store`` (a crash between storing an upload and
    recording it); they hold uploaded faces nobody can see or delete. Returns how many."""
    moved = 0
    for p in sorted(jobs.iterdir()) if jobs.is_dir() else []:
        orphan = p.name.startswith(".incoming-") or (JOB_ID.match(p.name) and store.get(p.name) is None)
        if orphan and p.is_dir() and not p.is_symlink():
            trash.mkdir(parents=True, exist_ok=True)
            p.rename(trash / f"{p.name.lstrip('.')}.{secrets.token_hex(4)}")
            moved += 1
    return moved


def _progress(job: dict[str, Any]) -> dict[str, Any]:
    """Overall progress of a job in [0, 1] and counts per input state."""
    real = [i for i in job["inputs"] if i["status"] != "rejected"]
    counts = {s: sum(1 for i in job["inputs"] if i["status"] == s) for s in INPUT_STATES}
    if job["status"] == "done":
        frac = 1.0
    elif real:
        frac = sum(1.0 if i["status"] in ("done", "failed") else float(i["progress"] or 0) for i in real) / len(real)
    else:
        frac = 0.0
    faces = sum(int(i["faces"] or 0) for i in job["inputs"])
    scores = [float(i["max_score"]) for i in job["inputs"] if i["max_score"] is not None]
    return {"progress": round(frac, 4), "counts": counts, "faces": faces,
            "max_score": max(scores) if scores else None}
