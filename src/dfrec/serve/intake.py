"""An upload becomes a case: the request's size and the queue are checked before anything is read,
then each file is sniffed, checked and stored in a new job folder, and the case is queued.

Each step answers ``(HTTP status, JSON body)``; the routes turn that into JSON (``POST /api/jobs``)
or a page (``POST /upload``). Nothing half-stored stays behind: the files go to a hidden
``.incoming-<id>`` folder that is renamed into place only when the case is complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from dfrec.serve.config import ServeConfig
from dfrec.serve.jobs import JobStore, QueueFull, new_job_id
from dfrec.io import SNIFF_BYTES, sniff
from dfrec.serve.uploads import check_image, describe_unknown, display_name, stored_name

DRAIN_BYTES = 64 * 1024 * 1024  # a refused upload up to this size is read and discarded before the answer


def queue_full(cfg: ServeConfig) -> dict[str, Any]:
    """The JSON body of a refusal because the queue is full (HTTP 503)."""
    return {"error": f"the queue is full ({cfg.max_queue} jobs waiting or running): nothing was stored; "
                     "try again in a few minutes", "status": "refused"}


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


async def receive_upload(request: Request, cfg: ServeConfig, store: JobStore, jobs: Path) -> tuple[int, dict[str, Any]]:
    """Check, store (under ``jobs/<id>``) and queue a multipart upload of ``files`` fields."""
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        return 411, {"error": "the upload must state its size (Content-Length)"}
    if int(length) > cfg.max_upload_bytes + 64 * 1024:
        await drain(request, int(length))
        return 413, {"error": f"the upload is {int(length) / 1e6:.1f} MB; the limit is "
                              f"{cfg.max_upload_bytes / 1e6:.0f} MB per upload"}
    if store.active_count() >= cfg.max_queue:
        await drain(request, int(length))
        return 503, queue_full(cfg)
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
        return await run_in_threadpool(store_upload, files, cfg, store, jobs)
    finally:
        await form.close()


def _store_one(f: Any, n: int, uploads: Path, cfg: ServeConfig) -> dict[str, Any]:
    """File ``n`` of an upload (``f.filename``, ``f.file``), checked and, when accepted, copied to
    ``uploads/<n>/<safe name>``; returns its input record (``status`` pending or rejected)."""
    name = display_name(f.filename)
    fh = f.file
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    head = fh.read(SNIFF_BYTES)
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
        return {"name": name, "status": "rejected", "message": reason, "bytes": size}
    stored = f"{n}/{stored_name(name, kind.ext)}"
    (uploads / str(n)).mkdir()
    with open(uploads / stored, "xb") as out:
        shutil.copyfileobj(fh, out, 1 << 20)
    return {"name": name, "stored": stored, "kind": kind.kind, "bytes": size, "status": "pending"}


def store_upload(files: list[Any], cfg: ServeConfig, store: JobStore, jobs: Path) -> tuple[int, dict[str, Any]]:
    """Store the accepted ``files`` as a new case under ``jobs/<id>`` and queue it: 201 with its id
    and URL (and the files that were rejected), 400 when none was accepted, 503 when the queue
    filled up meanwhile (then nothing stays on disk)."""
    job_id = new_job_id()
    tmp = jobs / f".incoming-{job_id}"
    (tmp / "uploads").mkdir(parents=True)
    try:
        inputs = [_store_one(f, n, tmp / "uploads", cfg) for n, f in enumerate(files, start=1)]
        rejected = [{"name": i["name"], "message": i["message"]} for i in inputs if i["status"] == "rejected"]
        if len(rejected) == len(inputs):
            shutil.rmtree(tmp, ignore_errors=True)
            what = "The file was" if len(inputs) == 1 else "None of the files was"
            return 400, {"error": f"{what} accepted.", "rejected": rejected}
        final = jobs / job_id
        tmp.rename(final)
        try:
            store.create(job_id, inputs, cfg.max_queue)
        except QueueFull:
            shutil.rmtree(final, ignore_errors=True)
            return 503, queue_full(cfg)
        return 201, {"id": job_id, "url": f"/jobs/{job_id}", "inputs": len(inputs), "rejected": rejected}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
