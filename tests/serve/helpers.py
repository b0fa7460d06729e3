"""Helpers for the ``dfrec serve`` tests: a real server in a subprocess, HTTP without extra packages."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "obama_on_biden" / "forgery.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Generous bound on waiting for the server (model loading on a busy 2-core machine); a
#: deadline to fail instead of hanging, not a timing assertion.
WAIT_S = 300


class Server:
    """``python -m dfrec serve`` in a subprocess on a free port; ``url`` once it listens."""

    def __init__(self, data: Path, *args: str, token: str | None = None):
        self.data = data
        self.args = args
        self.token = token
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log = data.parent / f"serve-{uuid.uuid4().hex[:6]}.log"

    def start(self, wait_ready: bool = True) -> "Server":
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "dfrec", "serve", "--port", "0", "--data", str(self.data), "--device", "cpu",
               "--threads", "2", *self.args]
        if self.token:
            cmd += ["--token", self.token]
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env, cwd=ROOT)
        line = self.proc.stdout.readline()
        if "open http" not in line:
            self.stop()
            raise RuntimeError(f"dfrec serve did not start: {line!r}\n{self.log.read_text()}")
        self.url = line.split("open ", 1)[1].split(" ", 1)[0].split("?", 1)[0].rstrip("/")
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            code, body = self.get_json("/api/health")
            if code == 200 and body["worker"] == "ready":
                return body
            if code == 200 and body["worker"] == "stopped":
                raise RuntimeError(f"worker stopped: {body}\n{self.log.read_text()}")
            time.sleep(0.3)
        raise TimeoutError(f"server not ready within {WAIT_S} s\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc.stdout.close()
        self._log.close()
        self.proc = None
        return code

    def pids(self) -> list[int]:
        """The web process and its children (the worker)."""
        if self.proc is None:
            return []
        out = [self.proc.pid]
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            out += [int(k) for k in kids]
        except OSError:
            pass
        return out

    # ------------------------------------------------------------------ HTTP
    def request(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None,
                method: str | None = None) -> tuple[int, bytes, dict[str, str]]:
        h = dict(headers or {})
        if self.token and "Authorization" not in h:
            h["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def get_json(self, path: str) -> tuple[int, Any]:
        try:
            code, body, _ = self.request(path)
        except (urllib.error.URLError, ConnectionError):
            return 0, None
        return code, json.loads(body) if body else None

    def upload(self, files: list[tuple[str, bytes]], path: str = "/api/jobs",
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body, ctype = multipart(files)
        code, raw, _ = self.request(path, body, {"Content-Type": ctype, "Accept": "application/json", **(headers or {})})
        try:
            return code, json.loads(raw)
        except ValueError:
            return code, raw.decode("utf-8", "replace")

    def wait_inside_video(self, job_id: str) -> dict[str, Any]:
        """Wait until the worker analyses the frames of the job's first input (a video)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            _, job = self.get_json(f"/api/jobs/{job_id}")
            if (job["inputs"][0]["stage"] or "").startswith("frame"):
                return job
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.1)

    def wait_job(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            code, job = self.get_json(f"/api/jobs/{job_id}")
            assert code == 200, job
            if job["status"] in ("done", "interrupted"):
                return job
            time.sleep(0.3)
        raise TimeoutError(f"job {job_id} not finished within {WAIT_S} s\n{self.log.read_text()}")


def multipart(files: list[tuple[str, bytes]], field: str = "files") -> tuple[bytes, str]:
    """A multipart/form-data body of ``(filename, bytes)`` parts."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, data in files:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def example_video(path: Path, frames: int) -> Path:
    """An MJPG AVI at 10 fps of ``frames`` copies of the example forgery at 156 x 180 px."""
    import cv2

    from dfrec.io import read_image

    frame = cv2.cvtColor(cv2.resize(read_image(EXAMPLE), (156, 180)), cv2.COLOR_RGB2BGR)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (156, 180))
    for _ in range(frames):
        w.write(frame)
    w.release()
    return path


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def dead(pid: int) -> bool:
    """Whether process ``pid`` has ended (gone, or a zombie: its files, and so its locks, are closed)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def hold_lock(lock: Any, conn: Any) -> None:
    """Target of a spawned process given a :class:`dfrec.serve.lock.HeldLock`: keeps it until
    ``conn`` sends something (or closes)."""
    conn.send(lock.fd is not None)
    try:
        conn.recv()
    except EOFError:
        pass
