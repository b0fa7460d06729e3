"""The web process of ``dfrec serve``: a FastAPI app over the job store and the job folders.

Routes (HTML pages, then the JSON API the pages use)::

    GET  /                                   upload page          POST /upload        (form, no JavaScript)
    GET  /cases                              all cases            POST /api/jobs      (upload; 201/400/413/503)
    GET  /jobs/{id}                          job page, progress   GET  /api/jobs      GET /api/jobs/{id}
    GET  /jobs/{id}/inputs/{n}               results page         POST /jobs/{id}/rerun, /api/jobs/{id}/rerun
    GET  /jobs/{id}/inputs/{n}/report.html | result.json | all.zip | files/{name} | preview/{name}
    GET  /jobs/{id}/all.zip                  POST /jobs/{id}/delete, DELETE /api/jobs/{id} (200/404/409)
                                             GET  /api/health

Deleting a case removes its row and its folder (uploads, results, zips) for good; a queued
case is thereby cancelled, a running one is refused with HTTP 409 (:meth:`JobStore.delete`).

Safety: job ids are random (22 characters, 128 bits); a job's files are looked up only
inside its own folder, by names that must match a strict pattern and exist there as
regular files; the upload's bytes decide what it is (:mod:`dfrec.serve.uploads`); request
size and file count are limited before anything is stored; a full queue is refused with
HTTP 503 and a message. Requests with a foreign ``Host`` (DNS rebinding) or a foreign
``Origin`` on a POST or DELETE (cross-site forms) are refused. With a token, every request
needs it (``Authorization: Bearer``, or the cookie set by opening ``/?token=...`` once).
"""

from __future__ import annotations

import hmac
import json
import multiprocessing as mp
import re
import shutil
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dfrec.serve import pages
from dfrec.serve.config import ServeConfig
from dfrec.serve.jobs import JOB_ID, JobRunning, JobStore, QueueFull, empty_trash, new_job_id, sweep_orphans
from dfrec.serve.uploads import HEAD_BYTES, check_image, describe_unknown, display_name, sniff, stored_name

STATIC = Path(__file__).resolve().parent / "static"
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
TOKEN_COOKIE = "dfrec_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json", ".html": "text/html; charset=utf-8",
                 ".zip": "application/zip", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
RESTARTS_MAX = 5
DRAIN_BYTES = 64 * 1024 * 1024  # a refused upload up to this size is read and discarded before the answer


class WorkerSupervisor:
    """Starts the worker process, restarts it if it dies (marking its job interrupted), stops it."""

    def __init__(self, cfg: ServeConfig, store: JobStore):
        self.cfg = cfg
        self.store = store
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
        self.proc = self.ctx.Process(target=worker_main, args=(self.cfg.to_dict(), stop_r, ready_w),
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


def create_app(cfg: ServeConfig, start_worker: bool = True) -> FastAPI:
    """The app for ``cfg`` (validated); ``start_worker=False`` serves pages without analysing."""
    cfg.validate()
    data = Path(cfg.data_dir)
    (data / "jobs").mkdir(parents=True, exist_ok=True)
    store = JobStore(data / "serve.sqlite")
    orphans = sweep_orphans(data / "jobs", store, data / "trash")
    if orphans:
        print(f"dfrec serve: removing {orphans} upload folder(s) a crash left without a case", file=sys.stderr)
    if empty_trash(data / "trash"):
        print("dfrec serve: removed the files of deleted case(s) that the last run could not finish removing",
              file=sys.stderr)
    interrupted = store.mark_interrupted("the server was restarted while this job was running; re-run it to finish")
    if interrupted:
        print(f"dfrec serve: {len(interrupted)} job(s) were interrupted by the last shutdown: re-run them from "
              "their pages", file=sys.stderr)
    supervisor = WorkerSupervisor(cfg, store)
    gallery_info = _gallery_summary(cfg.gallery)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_worker:
            supervisor.start()
        yield
        if start_worker:
            await run_in_threadpool(supervisor.stop)
        store.close()

    app = FastAPI(title="dfrec serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.cfg = cfg
    app.state.store = store
    app.state.supervisor = supervisor
    allowed_hosts = {"127.0.0.1", "localhost", "[::1]", "::1"}

    def status_line() -> str:
        state = supervisor.state if start_worker else "analysis off"
        q = store.active_count()
        g = f" · gallery: {gallery_info}" if gallery_info else ""
        return f"model: {state} · queue: {q}/{cfg.max_queue}{g}"

    # ------------------------------------------------------------------ security middleware
    @app.middleware("http")
    async def guard(request: Request, call_next):
        if cfg.loopback and _host_only(request.headers.get("host", "")) not in allowed_hosts:
            return _plain(421, "dfrec serve answers only to requests addressed to this machine (127.0.0.1 / localhost)")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin and origin != "null" and origin.split("://", 1)[-1] != request.headers.get("host"):
                return _plain(403, "cross-site request refused")
            if origin == "null":
                return _plain(403, "cross-site request refused")
        if cfg.token:
            given = request.query_params.get("token")
            if given is not None and hmac.compare_digest(given.encode(), cfg.token.encode()):
                resp = RedirectResponse(request.url.path, status_code=303)
                resp.set_cookie(TOKEN_COOKIE, cfg.token, httponly=True, samesite="strict")
                return resp
            auth = request.headers.get("authorization", "")
            sent = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(sent.encode(), cfg.token.encode()):
                return _plain(401, "this dfrec server needs its access token: open the address printed by "
                                   "`dfrec serve` (it ends in ?token=...)")
        resp = await call_next(request)
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        # no Referer to other sites; not "no-referrer", with which a browser sends "Origin: null" on the pages'
        # own form POSTs (re-run, delete), refused above as cross-site
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    # ------------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse)
    def upload_page() -> str:
        return pages.upload_page(_limits(cfg, gallery_info), store.list(limit=5), status_line())

    @app.get("/cases", response_class=HTMLResponse)
    def cases_page(deleted: str = "") -> str:
        deleted = deleted if re.fullmatch(r"[A-Za-z0-9_-]{8}", deleted) else ""
        return pages.cases_page(store.list(limit=500), status_line(), deleted)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(job_id: str):
        job = store.get(job_id)
        if job is None:
            return _not_found(status_line())
        return pages.job_page(job, status_line())

    @app.get("/jobs/{job_id}/inputs/{n}", response_class=HTMLResponse)
    def results_page(job_id: str, n: int):
        job, inp = _input(store, job_id, n)
        if inp is None:
            return _not_found(status_line())
        if inp["status"] != "done":
            return RedirectResponse(f"/jobs/{job_id}", status_code=303)
        folder = data / "jobs" / job_id / "results" / str(n)
        try:
            result = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError):
            return HTMLResponse(pages.message_page("Result missing", "The result files of this input are missing "
                                                   "from the data folder.", status_line()), status_code=404)
        web = data / "jobs" / job_id / "web" / str(n)
        previews = sorted(p.name for p in web.iterdir()) if web.is_dir() else []
        return pages.results_page(job, inp, result, previews, status_line())

    # ------------------------------------------------------------------ files (only from the job's own folder)
    def send(job_id: str, parts: tuple[str, ...], name: str, download: bool = False) -> Response:
        if not JOB_ID.match(job_id) or not FILE_NAME.match(name) or store.get(job_id) is None:
            return _plain(404, "no such file")
        folder = (data / "jobs" / job_id).joinpath(*parts)
        path = folder / name
        if path.is_symlink() or not path.is_file() or path.resolve().parent != folder.resolve():
            return _plain(404, "no such file")
        headers = {"Content-Disposition": f'attachment; filename="{name}"'} if download else {}
        return FileResponse(path, media_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                            headers=headers)

    @app.get("/jobs/{job_id}/inputs/{n}/files/{name}")
    def input_file(job_id: str, n: int, name: str, download: int = 0):
        if name in ("report.html", "result.json"):
            return RedirectResponse(f"/jobs/{job_id}/inputs/{n}/{name}", status_code=303)
        return send(job_id, ("results", str(int(n))), name, bool(download))

    @app.get("/jobs/{job_id}/inputs/{n}/preview/{name}")
    def input_preview(job_id: str, n: int, name: str):
        return send(job_id, ("web", str(int(n))), name)

    @app.get("/jobs/{job_id}/inputs/{n}/report.html")
    def input_report(job_id: str, n: int, download: int = 0):
        return send(job_id, ("results", str(int(n))), "report.html", bool(download))

    @app.get("/jobs/{job_id}/inputs/{n}/result.json")
    def input_json(job_id: str, n: int, download: int = 0):
        return send(job_id, ("results", str(int(n))), "result.json", bool(download))

    @app.get("/jobs/{job_id}/inputs/{n}/all.zip")
    def input_zip(job_id: str, n: int):
        resp = send(job_id, ("zips",), f"{int(n)}.zip", True)
        if isinstance(resp, FileResponse):
            resp.headers["Content-Disposition"] = f'attachment; filename="dfrec-{job_id[:8]}-{int(n)}.zip"'
        return resp

    @app.get("/jobs/{job_id}/all.zip")
    def job_zip(job_id: str):
        resp = send(job_id, ("zips",), "all.zip", True)
        if isinstance(resp, FileResponse):
            resp.headers["Content-Disposition"] = f'attachment; filename="dfrec-{job_id[:8]}.zip"'
        return resp

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @app.get("/static/{name}")
    def static(name: str):
        path = STATIC / name
        if not FILE_NAME.match(name) or not path.is_file():
            return _plain(404, "no such file")
        resp = FileResponse(path, media_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"))
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    # ------------------------------------------------------------------ uploads
    async def drain(request: Request, length: int) -> None:
        """Read and discard a refused body of at most DRAIN_BYTES, so a client that sends the whole
        body before reading (browsers, urllib) gets the refusal instead of a reset connection;
        a larger one is answered at once (the connection then closes)."""
        if length > DRAIN_BYTES:
            return
        read = 0
        async for chunk in request.stream():
            read += len(chunk)
            if read > DRAIN_BYTES:
                break

    async def receive_upload(request: Request) -> tuple[int, dict[str, Any]]:
        """Check, store and queue an upload; returns (HTTP status, JSON body)."""
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return 411, {"error": "the upload must state its size (Content-Length)"}
        if int(length) > cfg.max_upload_bytes + 64 * 1024:
            await drain(request, int(length))
            return 413, {"error": f"the upload is {int(length) / 1e6:.1f} MB; the limit is "
                                  f"{cfg.max_upload_bytes / 1e6:.0f} MB per upload"}
        if store.active_count() >= cfg.max_queue:
            await drain(request, int(length))
            return 503, _queue_full(cfg)
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return 400, {"error": "expected a multipart/form-data upload with one or more 'files' fields"}
        try:
            form = await request.form(max_files=cfg.max_files + 1, max_fields=16)
        except Exception as e:  # malformed multipart bodies, too many parts
            msg = str(getattr(e, "detail", e)) or e.__class__.__name__
            return 400, {"error": f"the upload could not be read: {msg}"}
        try:
            files = [f for f in form.getlist("files") if hasattr(f, "filename") and hasattr(f, "file")]
            if not files:
                return 400, {"error": "no files in the upload: choose one or more pictures or videos"}
            if len(files) > cfg.max_files:
                return 400, {"error": f"{len(files)} files in one upload; the limit is {cfg.max_files}"}
            return await run_in_threadpool(store_upload, files)
        finally:
            await form.close()

    def store_upload(files: list[Any]) -> tuple[int, dict[str, Any]]:
        job_id = new_job_id()
        tmp = data / "jobs" / f".incoming-{job_id}"
        (tmp / "uploads").mkdir(parents=True)
        try:
            inputs = []
            for n, f in enumerate(files, start=1):
                name = display_name(f.filename)
                fh = f.file
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(0)
                head = fh.read(HEAD_BYTES)
                fh.seek(0)
                kind = sniff(head)
                reason = None
                if size == 0:
                    reason = "the file is empty"
                elif kind is None:
                    reason = describe_unknown(head)
                elif kind.kind == "image":
                    reason = check_image(fh, kind, cfg.max_pixels)
                if reason is not None:
                    inputs.append({"name": name, "status": "rejected", "message": reason, "bytes": size})
                    continue
                stored = f"{n}/{stored_name(name, kind.ext)}"  # uploads/<n>/<safe name>
                (tmp / "uploads" / str(n)).mkdir()
                with open(tmp / "uploads" / stored, "xb") as out:
                    shutil.copyfileobj(fh, out, 1 << 20)
                inputs.append({"name": name, "stored": stored, "kind": kind.kind, "bytes": size, "status": "pending"})
            rejected = [{"name": i["name"], "message": i["message"]} for i in inputs if i["status"] == "rejected"]
            if len(rejected) == len(inputs):
                shutil.rmtree(tmp, ignore_errors=True)
                what = "The file was" if len(inputs) == 1 else "None of the files was"
                return 400, {"error": f"{what} accepted.", "rejected": rejected}
            final = data / "jobs" / job_id
            tmp.rename(final)
            try:
                store.create(job_id, inputs, cfg.max_queue)
            except QueueFull:
                shutil.rmtree(final, ignore_errors=True)
                return 503, _queue_full(cfg)
            return 201, {"id": job_id, "url": f"/jobs/{job_id}", "inputs": len(inputs), "rejected": rejected}
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @app.post("/api/jobs")
    async def api_upload(request: Request):
        code, body = await receive_upload(request)
        headers = {"Retry-After": "30"} if code == 503 else None
        return JSONResponse(body, status_code=code, headers=headers)

    @app.post("/upload")
    async def form_upload(request: Request):
        code, body = await receive_upload(request)
        if code == 201:
            return RedirectResponse(body["url"], status_code=303)
        msg = body["error"] + "".join(f"\n{r['name']}: {r['message']}" for r in body.get("rejected", []))
        return HTMLResponse(pages.upload_page(_limits(cfg, gallery_info), store.list(limit=5), status_line(), msg),
                            status_code=code)

    # ------------------------------------------------------------------ API
    @app.get("/api/jobs")
    def api_jobs(limit: int = 200):
        return {"jobs": [_public(j) for j in store.list(limit=max(1, min(int(limit), 5000)))]}

    @app.get("/api/jobs/{job_id}")
    def api_job(job_id: str):
        job = store.get(job_id)
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return _public(job)

    def rerun(job_id: str) -> tuple[int, dict[str, Any]]:
        if store.get(job_id) is None:
            return 404, {"error": "no such job"}
        try:
            ok = store.rerun(job_id, cfg.max_queue)
        except QueueFull:
            return 503, _queue_full(cfg)
        if not ok:
            return 409, {"error": "only an interrupted job can be re-run"}
        return 202, {"id": job_id, "status": "queued"}

    @app.post("/api/jobs/{job_id}/rerun")
    def api_rerun(job_id: str):
        code, body = rerun(job_id)
        return JSONResponse(body, status_code=code)

    @app.post("/jobs/{job_id}/rerun")
    def form_rerun(job_id: str):
        code, body = rerun(job_id)
        if code == 404:
            return _not_found(status_line())
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    def delete(job_id: str) -> tuple[int, dict[str, Any]]:
        try:
            before = store.delete(job_id, data / "jobs" / job_id, data / "trash")
        except JobRunning:
            return 409, {"error": "the case is being analysed; delete it when it has finished"}
        if before is None:
            return 404, {"error": "no such job"}
        print(f"dfrec serve: case {job_id} deleted (it was {before})", file=sys.stderr)
        return 200, {"id": job_id, "status": "deleted", "previous_status": before}

    @app.delete("/api/jobs/{job_id}")
    def api_delete(job_id: str):
        code, body = delete(job_id)
        return JSONResponse(body, status_code=code)

    @app.post("/jobs/{job_id}/delete")
    def form_delete(job_id: str, confirmed: str = Form("")):
        if confirmed != "yes":  # no JavaScript, so no dialog asked: ask on a page first
            job = store.get(job_id) if JOB_ID.fullmatch(job_id) else None
            if job is None:
                return _not_found(status_line())
            if job["status"] != "running":  # a running case is refused below, asked or not
                return HTMLResponse(pages.delete_confirm_page(job, status_line()))
        code, body = delete(job_id)
        if code == 404:
            return _not_found(status_line())
        if code == 409:
            return HTMLResponse(pages.message_page("Not deleted", f"Not deleted: {body['error']}.", status_line(),
                                                   pages.back_to_case(job_id)), status_code=409)
        return RedirectResponse(f"/cases?deleted={job_id[:8]}", status_code=303)

    @app.get("/api/health")
    def health():
        return {"worker": supervisor.state if start_worker else "off", "error": supervisor.error,
                "queue": store.active_count(), "max_queue": cfg.max_queue, "gallery": gallery_info or None}

    return app


# ---------------------------------------------------------------------------------------- helpers
def _host_only(host: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8000`` -> ``[::1]``, ``a:80`` -> ``a``)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


def _plain(code: int, text: str) -> Response:
    return JSONResponse({"error": text}, status_code=code)


def _not_found(status: str) -> HTMLResponse:
    return HTMLResponse(pages.message_page("Not found", "There is no such case or file on this server.", status),
                        status_code=404)


def _queue_full(cfg: ServeConfig) -> dict[str, Any]:
    return {"error": f"the queue is full ({cfg.max_queue} jobs waiting or running): nothing was stored; "
                     "try again in a few minutes", "status": "refused"}


def _input(store: JobStore, job_id: str, n: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    job = store.get(job_id)
    if job is None:
        return None, None
    inp = next((i for i in job["inputs"] if i["n"] == int(n)), None)
    return job, inp


def _public(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the API shows it (no server paths)."""
    keep = ("id", "created_utc", "started_utc", "finished_utc", "status", "message", "runs", "progress", "counts",
            "faces", "max_score")
    out = {k: job.get(k) for k in keep}
    out["url"] = f"/jobs/{job['id']}"
    out["inputs"] = [{k: i[k] for k in ("n", "name", "kind", "bytes", "status", "message", "progress", "stage",
                                         "faces", "max_score")} for i in job["inputs"]]
    for i in out["inputs"]:
        if i["status"] == "done":
            i["url"] = f"/jobs/{job['id']}/inputs/{i['n']}"
    return out


def _limits(cfg: ServeConfig, gallery: str) -> dict[str, Any]:
    return {"max_files": cfg.max_files, "max_upload_mb": cfg.max_upload_bytes / 1e6, "gallery": gallery}


def _gallery_summary(path: str | None) -> str:
    """'N people, M photos' of the configured gallery (read from its database, no faiss)."""
    if not path:
        return ""
    import sqlite3

    db = Path(path) / "gallery.sqlite"
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            photos, persons = con.execute("SELECT COUNT(*), COUNT(DISTINCT person_id) FROM photos").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return "unreadable"
    return f"{persons} people, {photos} photos"
