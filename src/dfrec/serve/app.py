"""The web process of ``dfrec serve``: a FastAPI app over the job store and the job folders.

Routes (HTML pages, then the JSON API the pages use)::

    GET  /                                   upload page          POST /upload        (form, no JavaScript)
    GET  /cases                              all cases            POST /api/jobs      (upload; 201/400/413/503)
    GET  /jobs/{id}                          job page, progress   GET  /api/jobs      GET /api/jobs/{id}
    GET  /jobs/{id}/inputs/{n}               results page         POST /jobs/{id}/rerun, /api/jobs/{id}/rerun
    GET  /jobs/{id}/inputs/{n}/report.html | result.json | all.zip | files/{name} | preview/{name}
    GET  /jobs/{id}/all.zip                  POST /jobs/{id}/delete, DELETE /api/jobs/{id} (200/404/409)
                                             GET  /api/health

One server per data folder: ``DATA/serve.lock`` (:mod:`dfrec.serve.lock`) is taken before the
start-up recovery and clean-up; a second server on the folder stops with exit status 2.

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
import re
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dfrec.serve import pages
from dfrec.serve.config import ServeConfig
from dfrec.serve.intake import queue_full, receive_upload
from dfrec.serve.jobs import JOB_ID, JobRunning, JobStore, QueueFull, empty_trash, sweep_orphans
from dfrec.serve.lock import lock_data_folder
from dfrec.serve.supervisor import WorkerSupervisor

STATIC = Path(__file__).resolve().parent / "static"
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")
TOKEN_COOKIE = "dfrec_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".json": "application/json", ".html": "text/html; charset=utf-8",
                 ".zip": "application/zip", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass
class _Server:
    """What the routes share: settings, the job store, the analysis process, the data folder."""

    cfg: ServeConfig
    store: JobStore
    supervisor: WorkerSupervisor
    data: Path
    gallery: str  # 'N people, M photos' of the configured gallery, or ''
    analysing: bool  # False: pages only (start_worker=False)

    def status_line(self) -> str:
        state = self.supervisor.state if self.analysing else "analysis off"
        g = f" · gallery: {self.gallery}" if self.gallery else ""
        return f"model: {state} · queue: {self.store.active_count()}/{self.cfg.max_queue}{g}"

    def not_found(self) -> HTMLResponse:
        return HTMLResponse(pages.message_page("Not found", "There is no such case or file on this server.",
                                               self.status_line()), status_code=404)


def create_app(cfg: ServeConfig, start_worker: bool = True) -> FastAPI:
    """The app for ``cfg`` (validated); ``start_worker=False`` serves pages without analysing.
    Locks the data folder first (:mod:`dfrec.serve.lock`; :class:`~dfrec.errors.OutputError`
    when another server uses it); the lock is released when the app shuts down."""
    cfg.validate()
    data = Path(cfg.data_dir)
    lock = lock_data_folder(data)  # before the start-up recovery: it must not run beside another server
    try:
        store = _open_store(data)
    except BaseException:
        lock.release()
        raise
    srv = _Server(cfg, store, WorkerSupervisor(cfg, store, lock), data, _gallery_summary(cfg.gallery), start_worker)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if start_worker:
            srv.supervisor.start()
        yield
        if start_worker:
            await run_in_threadpool(srv.supervisor.stop)
        store.close()
        lock.release()

    app = FastAPI(title="dfrec serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.middleware("http")(_guard(cfg))
    for add_routes in (_page_routes, _file_routes, _upload_routes, _case_routes):
        add_routes(app, srv)
    return app


def _open_store(data: Path) -> JobStore:
    """The job store of ``data``, after the housekeeping a restart needs: upload folders a crash
    left without a case, files of deleted cases still in the trash, jobs a shutdown interrupted."""
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
    return store


def _guard(cfg: ServeConfig):
    """The security middleware: loopback ``Host`` only (DNS rebinding), no cross-site POST or
    DELETE, the access token when one is set, and the security headers on every answer."""

    async def guard(request: Request, call_next):
        if cfg.loopback and _host_only(request.headers.get("host", "")) not in LOOPBACK_HOSTS:
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

    return guard


def _page_routes(app: FastAPI, srv: _Server) -> None:
    """``/`` (upload), ``/cases``, ``/jobs/{id}`` (progress) and ``/jobs/{id}/inputs/{n}`` (results)."""
    store = srv.store

    @app.get("/", response_class=HTMLResponse)
    def upload_page() -> str:
        return pages.upload_page(_limits(srv.cfg, srv.gallery), store.list(limit=5), srv.status_line())

    @app.get("/cases", response_class=HTMLResponse)
    def cases_page(deleted: str = "") -> str:
        deleted = deleted if re.fullmatch(r"[A-Za-z0-9_-]{8}", deleted) else ""
        return pages.cases_page(store.list(limit=500), srv.status_line(), deleted)

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(job_id: str):
        job = store.get(job_id)
        if job is None:
            return srv.not_found()
        return pages.job_page(job, srv.status_line())

    @app.get("/jobs/{job_id}/inputs/{n}", response_class=HTMLResponse)
    def results_page(job_id: str, n: int):
        job, inp = _input(store, job_id, n)
        if inp is None:
            return srv.not_found()
        if inp["status"] != "done":
            return RedirectResponse(f"/jobs/{job_id}", status_code=303)
        folder = srv.data / "jobs" / job_id / "results" / str(n)
        try:
            result = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError):
            return HTMLResponse(pages.message_page("Result missing", "The result files of this input are missing "
                                                   "from the data folder.", srv.status_line()), status_code=404)
        web = srv.data / "jobs" / job_id / "web" / str(n)
        previews = sorted(p.name for p in web.iterdir()) if web.is_dir() else []
        return pages.results_page(job, inp, result, previews, srv.status_line())


def _file_routes(app: FastAPI, srv: _Server) -> None:
    """A job's files (only from its own folder, by strict names), zips, ``/static``, ``/favicon.ico``."""

    def send(job_id: str, parts: tuple[str, ...], name: str, download: bool = False) -> Response:
        if not JOB_ID.match(job_id) or not FILE_NAME.match(name) or srv.store.get(job_id) is None:
            return _plain(404, "no such file")
        folder = (srv.data / "jobs" / job_id).joinpath(*parts)
        path = folder / name
        if path.is_symlink() or not path.is_file() or path.resolve().parent != folder.resolve():
            return _plain(404, "no such file")
        headers = {"Content-Disposition": f'attachment; filename="{name}"'} if download else {}
        return FileResponse(path, media_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"),
                            headers=headers)

    def send_zip(job_id: str, name: str, download_name: str) -> Response:
        resp = send(job_id, ("zips",), name, True)
        if isinstance(resp, FileResponse):
            resp.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
        return resp

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
        return send_zip(job_id, f"{int(n)}.zip", f"dfrec-{job_id[:8]}-{int(n)}.zip")

    @app.get("/jobs/{job_id}/all.zip")
    def job_zip(job_id: str):
        return send_zip(job_id, "all.zip", f"dfrec-{job_id[:8]}.zip")

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


def _upload_routes(app: FastAPI, srv: _Server) -> None:
    """``POST /api/jobs`` (JSON answer) and ``POST /upload`` (the form: a redirect or the page again
    with the reason); both through :func:`dfrec.serve.intake.receive_upload`."""

    @app.post("/api/jobs")
    async def api_upload(request: Request):
        code, body = await receive_upload(request, srv.cfg, srv.store, srv.data / "jobs")
        headers = {"Retry-After": "30"} if code == 503 else None
        return JSONResponse(body, status_code=code, headers=headers)

    @app.post("/upload")
    async def form_upload(request: Request):
        code, body = await receive_upload(request, srv.cfg, srv.store, srv.data / "jobs")
        if code == 201:
            return RedirectResponse(body["url"], status_code=303)
        msg = body["error"] + "".join(f"\n{r['name']}: {r['message']}" for r in body.get("rejected", []))
        return HTMLResponse(pages.upload_page(_limits(srv.cfg, srv.gallery), srv.store.list(limit=5),
                                              srv.status_line(), msg), status_code=code)


def _case_routes(app: FastAPI, srv: _Server) -> None:
    """The JSON API over cases (list, one, health) and the actions on a case, each as API and form:
    re-run an interrupted case, delete a case (the form asks first where no dialog did)."""
    cfg, store = srv.cfg, srv.store

    @app.get("/api/jobs")
    def api_jobs(limit: int = 200):
        return {"jobs": [_public(j) for j in store.list(limit=max(1, min(int(limit), 5000)))]}

    @app.get("/api/jobs/{job_id}")
    def api_job(job_id: str):
        job = store.get(job_id)
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return _public(job)

    @app.get("/api/health")
    def health():
        return {"worker": srv.supervisor.state if srv.analysing else "off", "error": srv.supervisor.error,
                "queue": store.active_count(), "max_queue": cfg.max_queue, "gallery": srv.gallery or None}

    def rerun(job_id: str) -> tuple[int, dict[str, Any]]:
        if store.get(job_id) is None:
            return 404, {"error": "no such job"}
        try:
            ok = store.rerun(job_id, cfg.max_queue)
        except QueueFull:
            return 503, queue_full(cfg)
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
            return srv.not_found()
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    def delete(job_id: str) -> tuple[int, dict[str, Any]]:
        try:
            before = store.delete(job_id, srv.data / "jobs" / job_id, srv.data / "trash")
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
                return srv.not_found()
            if job["status"] != "running":  # a running case is refused below, asked or not
                return HTMLResponse(pages.delete_confirm_page(job, srv.status_line()))
        code, body = delete(job_id)
        if code == 404:
            return srv.not_found()
        if code == 409:
            return HTMLResponse(pages.message_page("Not deleted", f"Not deleted: {body['error']}.", srv.status_line(),
                                                   pages.back_to_case(job_id)), status_code=409)
        return RedirectResponse(f"/cases?deleted={job_id[:8]}", status_code=303)


# ---------------------------------------------------------------------------------------- helpers
def _host_only(host: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8000`` -> ``[::1]``, ``a:80`` -> ``a``)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


def _plain(code: int, text: str) -> Response:
    return JSONResponse({"error": text}, status_code=code)


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
