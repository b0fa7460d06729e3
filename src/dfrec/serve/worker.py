"""The worker process of ``dfrec serve``: loads the model once, runs queued jobs one by one.

It runs in its own process (started by the web process with ``multiprocessing`` spawn), so
model inference never slows the web pages down and a crash in it cannot take the server
with it. It takes the oldest queued job from the job store, processes every input into
``DATA/jobs/<id>/results/<n>/`` with ``dfrec recover``'s report writer (report.html,
result.json, images), writes a picture for the results page into ``web/<n>/`` and zips,
and records progress as it goes (per input; per sampled frame for videos). It stops
between two inputs or two frames when asked to, leaving the job *interrupted*.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
import zipfile
from pathlib import Path
from typing import Any

from dfrec.serve.config import ServeConfig
from dfrec.serve.jobs import JobStore

PREVIEW_SIDE = 1280
POLL_S = 0.25


class Stopped(Exception):
    """The worker was asked to stop (server shutting down) in the middle of a job."""


def job_dir(data_dir: Path, job_id: str) -> Path:
    return Path(data_dir) / "jobs" / job_id


class Worker:
    """Runs jobs with one :class:`dfrec.recover.Recoverer` (and gallery) loaded at start."""

    def __init__(self, cfg: ServeConfig, stop_conn: Any = None):
        import torch

        from dfrec.recover import Recoverer

        if cfg.threads:
            torch.set_num_threads(int(cfg.threads))
        self.cfg = cfg
        self.stop_conn = stop_conn
        self.stop_requested = False
        self.parent = os.getppid()
        self.store = JobStore(Path(cfg.data_dir) / "serve.sqlite")
        self.recoverer = Recoverer.from_pretrained(cfg.checkpoint, device=cfg.device, seed=cfg.seed)
        self.model_info = self.recoverer.model_info()
        self.gallery = None
        if cfg.gallery:
            from dfrec.gallery import Gallery

            self.gallery = Gallery.open(cfg.gallery, readonly=True)
        self.settings = {
            "fps": cfg.fps, "max_faces": cfg.max_faces, "max_frames": cfg.max_frames,
            "device": str(self.recoverer.device),
            "checkpoint": str(self.recoverer.checkpoint) if self.recoverer.checkpoint else None,
            "image_size": self.recoverer.image_size, "seed": self.recoverer.seed,
            "detection_threshold": None, "detection_upsample": None, "via": "dfrec serve",
        }
        if self.gallery is not None:
            self.settings.update(gallery=str(self.gallery.folder.resolve()), top_k=cfg.top_k)

    # ------------------------------------------------------------------ loop
    def should_stop(self, wait: float = 0.0) -> bool:
        """Whether to stop: asked to (a message or EOF on the stop pipe, SIGTERM), or the web
        process is gone (do not linger as an orphan). Waits up to ``wait`` seconds for a request."""
        if not self.stop_requested and self.stop_conn is not None:
            try:
                self.stop_requested = bool(self.stop_conn.poll(wait))
            except (OSError, EOFError):
                self.stop_requested = True
        elif wait:
            time.sleep(wait)
        return self.stop_requested or os.getppid() != self.parent

    def run_forever(self) -> None:
        while not self.should_stop():
            job = self.store.claim_next()
            if job is None:
                self.should_stop(POLL_S)
                continue
            self.run_job(job)

    def run_job(self, job: dict[str, Any]) -> None:
        jid = job["id"]
        if self.gallery is not None:
            self.gallery.refresh()  # pick up photos added since the server started
        try:
            for inp in job["inputs"]:
                if inp["status"] != "pending":
                    continue
                if self.should_stop():
                    raise Stopped()
                self.run_input(jid, inp)
            self.write_job_zip(jid)
            self.store.finish(jid, "done")
        except Stopped:
            self.store.mark_interrupted("the server stopped while this job was running; re-run it to finish", jid)
        except Exception as e:  # never leave a job 'running' behind
            traceback.print_exc(file=sys.stderr)
            self.store.mark_interrupted(f"internal error: {e.__class__.__name__}: {e}; re-run it to try again", jid)

    # ------------------------------------------------------------------ one input
    def run_input(self, jid: str, inp: dict[str, Any]) -> None:
        from dfrec.errors import DfrecError, NoFaceError

        n = int(inp["n"])
        root = job_dir(self.cfg.data_dir, jid)
        src = root / "uploads" / inp["stored"]
        out = root / "results" / str(n)
        self.store.update_input(jid, n, status="running", progress=0.02, stage="reading")
        if out.exists():  # a re-run: drop what an interrupted run left half-written
            shutil.rmtree(out)
        try:
            if inp["kind"] == "video":
                result = self._video(jid, n, src, out)
            else:
                result = self._image(jid, n, src, out)
        except Stopped:
            raise
        except NoFaceError as e:
            self.store.update_input(jid, n, status="failed", progress=1.0, stage=None, message=_strip(str(e), src))
            return
        except DfrecError as e:
            self.store.update_input(jid, n, status="failed", progress=1.0, stage=None,
                                    message=f"could not be processed: {_strip(str(e), src)}")
            return
        except Exception as e:  # a damaged file can break a decoder in any way
            traceback.print_exc(file=sys.stderr)
            self.store.update_input(jid, n, status="failed", progress=1.0, stage=None,
                                    message=f"could not be processed ({e.__class__.__name__}: {_strip(str(e), src)})")
            return
        self.store.update_input(jid, n, stage="packing", progress=0.97)
        self.write_input_zip(root, n, src)
        faces = result.get("faces", [])
        self.store.update_input(jid, n, status="done", progress=1.0, stage=None, faces=len(faces),
                                max_score=max((float(f["score_fake"]) for f in faces), default=None))

    def _image(self, jid: str, n: int, src: Path, out: Path) -> dict[str, Any]:
        from dfrec.errors import NoFaceError
        from dfrec.faces.detect import no_face_message
        from dfrec.io import read_image
        from dfrec.report.writer import write_image_report

        image = read_image(src, max_pixels=self.cfg.max_pixels)
        self.store.update_input(jid, n, progress=0.1, stage="finding faces")
        recovery = self.recoverer.recover_image(image, max_faces=self.cfg.max_faces)
        if not recovery.faces:
            raise NoFaceError(no_face_message(image.shape))
        self.store.update_input(jid, n, progress=0.6, stage="writing the report")
        result = write_image_report(out, src, recovery, self.settings, self.model_info,
                                    gallery=self.gallery, top_k=self.cfg.top_k)
        self._preview(root_of(out), n, "preview.jpg", image)
        return result

    def _video(self, jid: str, n: int, src: Path, out: Path) -> dict[str, Any]:
        from dfrec.errors import NoFaceError
        from dfrec.faces.detect import no_face_message
        from dfrec.report.writer import write_video_report

        last = [0.0]

        def on_frame(done: int, expected: int) -> None:
            if self.should_stop():
                raise Stopped()
            now = time.monotonic()
            if now - last[0] > 0.5 or done == expected:
                last[0] = now
                self.store.update_input(jid, n, progress=0.05 + 0.85 * done / max(expected, 1),
                                        stage=f"frame {done} of {expected}")

        self.store.update_input(jid, n, progress=0.05, stage="reading the video")
        video = self.recoverer.recover_video(src, fps=self.cfg.fps, max_faces=self.cfg.max_faces,
                                             max_frames=self.cfg.max_frames, on_frame=on_frame)
        if not video.tracks:
            raise NoFaceError(no_face_message((video.info.height, video.info.width), frames=video.frames_sampled))
        self.store.update_input(jid, n, progress=0.92, stage="writing the report")
        result = write_video_report(out, src, video, self.settings, self.model_info,
                                    gallery=self.gallery, top_k=self.cfg.top_k)
        for i, tr in enumerate(video.tracks):
            frame = _read_frame(src, tr.frame_index)
            if frame is not None:
                self._preview(root_of(out), n, f"track{i + 1}.jpg", frame)
        return result

    # ------------------------------------------------------------------ files for the pages
    def _preview(self, root: Path, n: int, name: str, image) -> None:
        """A JPEG of the picture (long side <= PREVIEW_SIDE) for the results page."""
        from PIL import Image

        from dfrec.io import atomic_path

        im = Image.fromarray(image)
        im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        dst = root / "web" / str(n) / name
        with atomic_path(dst) as tmp:
            im.save(tmp, format="JPEG", quality=88)

    def write_input_zip(self, root: Path, n: int, src: Path) -> None:
        """``zips/<n>.zip``: the input's report folder and the uploaded file."""
        from dfrec.io import atomic_path

        folder = root / "results" / str(n)
        with atomic_path(root / "zips" / f"{n}.zip") as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(src, f"input/{src.name}")
                for f in sorted(folder.iterdir()):
                    if f.is_file() and not f.name.startswith("."):
                        z.write(f, f"report/{f.name}")

    def write_job_zip(self, jid: str) -> None:
        """``zips/all.zip``: every processed input's report folder and upload, and a job summary."""
        import json

        from dfrec.io import atomic_path

        root = job_dir(self.cfg.data_dir, jid)
        job = self.store.get(jid)
        with atomic_path(root / "zips" / "all.zip") as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("job.json", json.dumps({k: job[k] for k in ("id", "created_utc", "status", "inputs")},
                                                  indent=2))
                for inp in job["inputs"]:
                    base = f"{inp['n']:02d}_{Path(inp['stored'] or 'rejected').stem}"
                    if inp["stored"] and (root / "uploads" / inp["stored"]).is_file():
                        z.write(root / "uploads" / inp["stored"], f"{base}/input/{Path(inp['stored']).name}")
                    folder = root / "results" / str(inp["n"])
                    if folder.is_dir():
                        for f in sorted(folder.iterdir()):
                            if f.is_file() and not f.name.startswith("."):
                                z.write(f, f"{base}/report/{f.name}")


def root_of(out: Path) -> Path:
    """The job folder of a ``results/<n>`` folder."""
    return out.parent.parent


def _strip(msg: str, path: Path) -> str:
    """A message without the server's own file path in front."""
    for p in (str(path), str(path.resolve())):
        if msg.startswith(p + ": "):
            return msg[len(p) + 2:]
        msg = msg.replace(p, path.name)
    return msg


def _read_frame(path: Path, index: int):
    """Frame ``index`` of a video as ``(H, W, 3) uint8`` RGB, or ``None``."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = cap.read()
    finally:
        cap.release()
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None


def worker_main(cfg_dict: dict[str, Any], stop_conn: Any, ready_conn: Any, lock: Any = None) -> None:
    """Entry point of the worker process (``multiprocessing`` target).

    ``stop_conn``: read end of a pipe; a message or EOF asks the worker to stop. ``ready_conn``:
    write end; the worker sends ``"ready"`` once the model is loaded. Pipes, not shared locks:
    a process killed while holding a lock (e.g. by a Ctrl-C sent to the whole process group)
    would leave the other one waiting forever. ``lock``: a duplicate of the data folder's
    ``flock`` (:class:`dfrec.serve.lock.HeldLock`; the kernel drops it when the process ends),
    kept open so that no other server starts on the folder while this worker may write to it. Ctrl-C is left to the web process, which
    stops the worker between two inputs or two frames; SIGTERM does the same.
    """
    import signal

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cfg = ServeConfig.from_dict(cfg_dict)
    try:
        worker = Worker(cfg, stop_conn)
    except Exception as e:
        print(f"dfrec serve: worker could not start: {e.__class__.__name__}: {e}", file=sys.stderr)
        raise SystemExit(4) from None

    def on_term(signum, frame):
        worker.stop_requested = True

    signal.signal(signal.SIGTERM, on_term)
    ready_conn.send("ready")
    worker.run_forever()
