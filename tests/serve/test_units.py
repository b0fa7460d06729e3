"""``dfrec serve`` parts without a server: content sniffing, safe names, the job store, settings."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from dfrec.errors import ConfigError
from dfrec.serve.config import ServeConfig, is_loopback
from dfrec.serve.jobs import JOB_ID, JobRunning, JobStore, QueueFull, empty_trash, new_job_id, sweep_orphans
from dfrec.io import sniff
from dfrec.serve.uploads import check_image, describe_unknown, display_name, stored_name


def encoded(fmt: str) -> bytes:
    from PIL import Image

    if fmt == "HEIF":
        from dfrec.io import enable_heif

        assert enable_heif()
    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("TIFF", ".tif"),
                                     ("BMP", ".bmp"), ("PPM", ".ppm"), ("GIF", ".gif"), ("AVIF", ".avif"),
                                     ("HEIF", ".heic")])
def test_sniff_images_by_content(fmt, ext):
    data = encoded(fmt)
    s = sniff(data[:64])
    assert s is not None and s.kind == "image" and s.ext == ext
    assert check_image(io.BytesIO(data), s, max_pixels=10_000) is None
    assert "megapixels" in check_image(io.BytesIO(data), s, max_pixels=100)


def test_sniff_video(tmp_path):
    path = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (32, 32))
    for _ in range(3):
        w.write(np.zeros((32, 32, 3), np.uint8))
    w.release()
    assert sniff(path.read_bytes()[:64]).ext == ".avi"
    assert sniff(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40).ext == ".mp4"
    assert sniff(b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 40).ext == ".mov"
    # a phone's photo shares MP4's container: its brand makes it an image, not a video
    assert (sniff(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40).kind, sniff(b"\x00\x00\x00\x18ftypavif").kind) == ("image", "image")
    assert sniff(b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm").ext == ".webm"


def test_refused_content_is_explained():
    assert sniff(b"hello, I am text") is None
    assert "text" in describe_unknown(b"hello, I am text")
    assert "PDF" in describe_unknown(b"%PDF-1.7")
    assert "ZIP" in describe_unknown(b"PK\x03\x04")
    assert "empty" in describe_unknown(b"")
    assert "unknown" in describe_unknown(bytes(range(128, 192)))
    # a real JPEG header followed by garbage: recognised, then refused when its header does not parse
    bad = b"\xff\xd8\xff\xe0" + b"\x00" * 60
    assert "cannot be read" in check_image(io.BytesIO(bad), sniff(bad), max_pixels=10**8)


@pytest.mark.parametrize("given,shown,stored", [
    ("../../etc/passwd", "passwd", "passwd.jpg"),
    ("C:\\Users\\me\\photo one.PNG", "photo one.PNG", "photo_one.jpg"),
    (".hidden", ".hidden", "upload.jpg"),
    ("", "upload", "upload.jpg"),
    ("a\x00b\nc.jpg", "abc.jpg", "abc.jpg"),
    ("ümlaut ×.jpeg", "ümlaut ×.jpeg", "mlaut.jpg"),
])
def test_names_never_become_paths(given, shown, stored):
    assert display_name(given) == shown
    name = stored_name(given, ".jpg")
    assert name == stored
    assert "/" not in name and "\\" not in name and not name.startswith(".")


def test_job_store_queue_and_restart(tmp_path):
    store = JobStore(tmp_path / "s.sqlite")
    ids = [new_job_id() for _ in range(3)]
    assert all(JOB_ID.match(i) for i in ids) and len(set(ids)) == 3
    for i in ids[:2]:
        store.create(i, [{"name": "a.jpg", "stored": "1/a.jpg", "kind": "image", "bytes": 10}], max_queue=2)
    with pytest.raises(QueueFull):
        store.create(ids[2], [{"name": "b.jpg"}], max_queue=2)
    assert store.get(ids[2]) is None  # a refused job leaves nothing
    job = store.claim_next()
    assert job["id"] == ids[0] and job["status"] == "running"  # oldest first
    store.update_input(ids[0], 1, status="running", progress=0.5, stage="frame 3 of 6")
    assert store.get(ids[0])["progress"] == 0.5
    # the server restarts: the running job is marked, the queued one stays queued
    store.close()
    store = JobStore(tmp_path / "s.sqlite")
    assert store.mark_interrupted("restarted") == [ids[0]]
    j = store.get(ids[0])
    assert j["status"] == "interrupted" and j["message"] == "restarted" and j["inputs"][0]["status"] == "pending"
    assert store.get(ids[1])["status"] == "queued"
    assert store.rerun(ids[1], max_queue=5) is False  # only interrupted jobs are re-run
    assert store.rerun(ids[0], max_queue=5) is True
    assert store.claim_next()["id"] == ids[1]  # re-run jobs go to the back of the queue
    assert store.claim_next()["id"] == ids[0]
    store.update_input(ids[0], 1, status="done", progress=1.0, faces=2, max_score=0.8)
    store.finish(ids[0])
    assert [j["id"] for j in store.list()] == [ids[1], ids[0]]  # newest first (by creation, not by re-run)
    done = store.get(ids[0])
    assert done["progress"] == 1.0 and done["faces"] == 2 and done["max_score"] == 0.8
    assert store.get("../../etc") is None and store.get("x" * 22) is None
    with pytest.raises(ValueError):
        store.update_input(ids[0], 1, name="evil")


def test_job_store_delete(tmp_path):
    """Deleting: the folder goes (via the trash) with the rows; a queued job is never claimed
    afterwards; a running one is refused and kept; leftovers in the trash go at the next start."""
    store = JobStore(tmp_path / "s.sqlite")
    jobs, trash = tmp_path / "jobs", tmp_path / "trash"
    ids = [new_job_id() for _ in range(4)]
    for i in ids:
        store.create(i, [{"name": "a.jpg", "stored": "1/a.jpg", "kind": "image", "bytes": 10}], max_queue=10)
        (jobs / i / "uploads" / "1").mkdir(parents=True)
        (jobs / i / "uploads" / "1" / "a.jpg").write_bytes(b"face")
    assert store.claim_next()["id"] == ids[0]  # running
    store.finish(ids[0])  # done
    assert store.claim_next()["id"] == ids[1]
    store.mark_interrupted("stopped")  # interrupted
    assert store.claim_next()["id"] == ids[2]  # running; ids[3] stays queued
    assert store.delete(ids[0], jobs / ids[0], trash) == "done"
    assert store.delete(ids[1], jobs / ids[1], trash) == "interrupted"
    assert store.delete(ids[3], jobs / ids[3], trash) == "queued"
    with pytest.raises(JobRunning):
        store.delete(ids[2], jobs / ids[2], trash)
    assert [j["id"] for j in store.list()] == [ids[2]] and store.get(ids[0]) is None
    assert sorted(p.name for p in jobs.iterdir()) == [ids[2]] and not any(trash.iterdir())
    store.finish(ids[2])
    assert store.claim_next() is None  # the cancelled job is never picked up
    assert store.delete(ids[0], jobs / ids[0], trash) is None and store.delete("../jobs", jobs, trash) is None
    # a crash between the rename and the removal leaves the files in the trash
    (trash / "x.1234" / "uploads").mkdir(parents=True)
    (trash / "x.1234" / "uploads" / "face.jpg").write_bytes(b"face")
    assert empty_trash(trash) == 1 and not any(trash.iterdir())
    assert empty_trash(tmp_path / "no-trash") == 0


def test_config_rules():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    ServeConfig().validate()
    with pytest.raises(ConfigError, match="token"):
        ServeConfig(host="0.0.0.0").validate()
    with pytest.raises(ConfigError, match="16"):
        ServeConfig(host="0.0.0.0", token="short").validate()
    ServeConfig(host="0.0.0.0", token="x" * 20).validate()
    assert "token" not in ServeConfig(token="y" * 20).to_dict()
    with pytest.raises(ConfigError):
        ServeConfig(max_queue=0).validate()


def test_sweep_orphans_moves_uploads_without_a_case(tmp_path):
    """A crash mid-upload leaves .incoming-<id>; one between storing and recording leaves a
    case folder with no row: both go to the trash at start, recorded cases stay."""
    store = JobStore(tmp_path / "s.sqlite")
    jobs, trash = tmp_path / "jobs", tmp_path / "trash"
    kept, lost = new_job_id(), new_job_id()
    for name in (kept, lost, f".incoming-{new_job_id()}"):
        (jobs / name / "uploads").mkdir(parents=True)
        (jobs / name / "uploads" / "face.png").write_bytes(b"x")
    store.create(kept, [{"name": "face.png", "stored": "face.png", "kind": "image"}], max_queue=5)
    (jobs / "notes.txt").write_text("not a case folder")
    assert sweep_orphans(jobs, store, trash) == 2
    assert sorted(p.name for p in jobs.iterdir()) == sorted([kept, "notes.txt"])
    assert empty_trash(trash) == 2 and not any(trash.iterdir())
    assert sweep_orphans(jobs, store, trash) == 0


def test_data_folder_lock(tmp_path):
    """One server per data folder: a second lock is refused naming the holder (exit 2); a copy
    handed to a spawned worker keeps it held after the web process lets go; a dead holder's
    lock file does not block."""
    import multiprocessing as mp
    import os

    from dfrec.errors import OutputError
    from dfrec.serve.lock import LOCK_NAME, lock_data_folder

    from .helpers import hold_lock

    data = tmp_path / "data"
    (data).mkdir()
    (data / LOCK_NAME).write_text("pid 999999999, started 2020-01-01T00:00:00Z\n")  # left by a killed server
    first = lock_data_folder(data)  # a stale file is not a lock: the kernel released it with its process
    assert (data / LOCK_NAME).read_text().startswith(f"pid {os.getpid()}, started ")
    with pytest.raises(OutputError) as err:
        lock_data_folder(data)
    assert err.value.exit_code == 2
    assert str(err.value) == (f"{data}: another dfrec serve ({(data / LOCK_NAME).read_text().strip()}) is using this "
                              "data folder; stop it first or choose another --data")
    ctx = mp.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    worker = ctx.Process(target=hold_lock, args=(first, child_end), daemon=True)
    worker.start()
    try:
        assert parent_end.recv() is True  # the worker holds its duplicate
        first.release()  # the web process is gone ...
        with pytest.raises(OutputError):  # ... but its worker still runs: still locked
            lock_data_folder(data)
        parent_end.send("stop")
        worker.join(60)
        assert worker.exitcode == 0
    finally:
        if worker.is_alive():
            worker.kill()
    lock_data_folder(data).release()  # both gone: free


def test_second_server_leaves_a_folder_in_use_alone(tmp_path):
    """The lock is taken before the start-up recovery: a server refused on a folder in use
    neither marks the other's running job interrupted nor sweeps an upload it is receiving."""
    import asyncio
    import threading

    from dfrec.errors import OutputError
    from dfrec.serve.app import create_app
    from dfrec.serve.lock import lock_data_folder

    data = tmp_path / "data"
    store = JobStore(data / "serve.sqlite")
    jid = new_job_id()
    store.create(jid, [{"name": "a.mp4", "stored": "1/a.mp4", "kind": "video", "bytes": 10}], max_queue=5)
    assert store.claim_next()["id"] == jid  # the first server's worker is analysing it
    incoming = data / "jobs" / f".incoming-{new_job_id()}" / "uploads"  # an upload being received
    incoming.mkdir(parents=True)
    (incoming / "face.png").write_bytes(b"x")
    first = lock_data_folder(data)
    with pytest.raises(OutputError, match="another dfrec serve"):
        create_app(ServeConfig(data_dir=data), start_worker=False)
    assert store.get(jid)["status"] == "running" and (incoming / "face.png").is_file()
    first.release()  # the first server ends (here without marking its job: as if killed)
    app = create_app(ServeConfig(data_dir=data), start_worker=False)
    assert store.get(jid)["status"] == "interrupted" and not incoming.exists()  # the restart recovery

    refused: list[bool] = []

    async def run_and_stop():
        async with app.router.lifespan_context(app):
            try:
                lock_data_folder(data).release()
                refused.append(False)
            except OutputError:  # held while the app runs
                refused.append(True)

    # a thread of its own: Playwright's loop may be running in this one (the browser tests)
    t = threading.Thread(target=asyncio.run, args=(run_and_stop(),))
    t.start()
    t.join(60)
    assert refused == [True]
    lock_data_folder(data).release()  # released when it stops
    store.close()


def _result_with_gallery(likely: list[bool | None]) -> dict:
    cands = [{"rank": i + 1, "name": name, "similarity": sim, "likely_same_person": lk, "photo_id": i + 1,
              "gallery_file": "x.jpg"} for i, (name, sim, lk) in enumerate(zip(("Joe_Biden", "Barack_Obama"),
                                                                               (0.16, 0.05), likely))]
    face = {"label": "Face 1", "score_fake": 0.9, "box": [0, 0, 10, 10], "files": {},
            "gallery": {"source": cands, "target": [dict(cands[0], similarity=0.83, likely_same_person=True)]}}
    return {"input": {"name": "a.png", "kind": "image", "width": 10, "height": 10, "sha256": "0" * 64},
            "settings": {}, "faces": [face],
            "gallery": {"photos": 14, "persons": 2, "likely_same_person": {
                "threshold": 0.7154, "false_match_rate": 0.0001, "true_match_rate": 0.67,
                "calibration": "LFW", "expected_chance_matches_per_search": 0.0014}}}


def _text(html_page: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_page))


def test_weak_gallery_candidates_read_as_leads():
    """A best candidate under the gallery's threshold reads as no likely match, not as an
    identification; one above it still reads as likely the same person."""
    from dfrec.serve import pages

    job = {"id": "A" * 22}
    html_page = pages.results_page(job, {"n": 1, "name": "a.png"}, _result_with_gallery([False, False]), [], "")
    text = _text(html_page)
    assert "source: no likely match; nearest: Joe_Biden 0.16 (below the 0.715 threshold)" in text
    assert "target: Joe_Biden 0.83 · likely the same person" in text
    assert "source: Joe_Biden 0.16" not in text and "Best gallery match" not in text
    source_col = _text(html_page.split('data-probe="source"', 1)[1].split('data-probe="target"', 1)[0])
    assert "No likely match: every candidate is below the 0.715 threshold." in source_col
    assert source_col.count("weak lead: below the 0.715 threshold") == 2 and "likely the same person" not in source_col
    target_col = _text(html_page.split('data-probe="target"', 1)[1])
    assert "likely the same person" in target_col and "No likely match" not in target_col
    assert "about 0.001 chance matches per search" in text and "0.00 chance" not in text
    # without a calibrated threshold nothing is judged, and the name is still not shown as a match
    html_page = pages.results_page(job, {"n": 1, "name": "a.png"}, _result_with_gallery([None, None]), [], "")
    assert "source: nearest: Joe_Biden 0.16 (no calibrated threshold)" in _text(html_page)
    assert "weak lead" not in html_page and "No likely match" not in html_page


def test_the_result_page_shows_the_reports_notes():
    """What report.html notes (a video re-encoded by x264, a file of several pages) the web app's
    result page notes too, escaped; a result without notes shows none."""
    from dfrec.serve import pages

    job = {"id": "A" * 22}
    result = {**_result_with_gallery([None, None]), "notes": ["The video stream was encoded by x264 <core 165>."]}
    html_page = pages.results_page(job, {"n": 1, "name": "a.png"}, result, [], "")
    assert html_page.count('class="card caveat result-note"') == 1
    assert "<b>Note.</b> The video stream was encoded by x264 &lt;core 165&gt;." in html_page
    assert "result-note" not in pages.results_page(job, {"n": 1, "name": "a.png"}, _result_with_gallery([None, None]),
                                                   [], "")


def test_the_case_page_gives_each_files_highest_fake_score():
    """A case's table reads like the cases list: each finished file's highest fake score and its
    verdict; a file still running or without a face shows none."""
    from dfrec.serve import pages

    inputs = [{"n": n, "name": f"{n}.png", "kind": "image", "status": st, "progress": 1.0, "message": None,
               "stage": None, "faces": faces, "max_score": score}
              for n, st, faces, score in ((1, "done", 1, 0.97), (2, "done", 1, 0.12), (3, "running", None, None),
                                          (4, "done", 0, None))]
    job = {"id": "A" * 22, "status": "running", "created_utc": "2026-12-06T17:00:00Z", "progress": 0.75,
           "inputs": inputs}
    html_page = pages.job_page(job, "")
    assert "Highest fake score" in html_page
    rows = {n: _text(html_page.split(f'id="input-{n}"', 1)[1].split("</tr>", 1)[0]) for n in (1, 2, 3, 4)}
    assert "0.97 likely swapped" in rows[1]
    assert "0.12 no swap detected" in rows[2]
    assert "likely" not in rows[3] and "detected" not in rows[3] and "likely" not in rows[4]
    # the page's script takes the verdict rule and its words from the page, not from a copy of its own
    assert 'data-threshold="0.5"' in html_page and 'data-fake-text="likely swapped"' in html_page


def test_a_tracks_worst_frame_stands_beside_its_mean():
    """A video's faces table gives each track's worst single frame next to its mean, so a swap in a
    few frames does not hide under 'no swap detected'."""
    from dfrec.serve import pages

    track = {"label": "Track 1", "score_fake": 0.2, "score_fake_max": 0.9, "n_frames": 10}
    text = _text(pages._overview([track], 0.5, video=True))
    assert "Fake score (mean over its frames)" in text
    assert "0.20 no swap detected" in text and "worst frame 0.90 likely swapped" in text
    assert "worst frame" not in _text(pages._overview([{"label": "Face 1", "score_fake": 0.2}], 0.5, video=False))
    # several faces: highest fake score first, each row still linking to its own card
    faces = [{"label": f"Face {i + 1}", "score_fake": s} for i, s in enumerate((0.2, 0.9, 0.6))]
    table = pages._overview(faces, 0.5, video=False)
    import re

    assert re.findall(r'href="#face-(\d)">Face (\d)<', table) == [("2", "2"), ("3", "3"), ("1", "1")]
    assert "Faces, highest fake score first" in _text(table)


def test_the_standalone_report_reads_weak_candidates_the_same_way(tmp_path):
    from dfrec.report.html import render_report

    text = _text(render_report(_result_with_gallery([False, False]), tmp_path))
    source_col = text.split("Recovered source", 1)[-1]
    assert "No likely match: every candidate is below the 0.715 threshold." in text
    assert "weak lead: below the 0.715 threshold" in source_col and "likely the same person" in text
    assert "about 0.001 chance match(es) per search" in text and "0.00 chance" not in text


@pytest.mark.parametrize("x,shown", [(0.0014, "0.001"), (0.0004, "0.0004"), (0.26, "0.3"), (0.05, "0.05"),
                                     (2.6, "2.6"), (14.2, "14"), (0.0, "under 0.0001")])
def test_chance_matches_are_read_with_their_digits(x, shown):
    from dfrec.report.gallery import about

    assert about(x) == shown


def test_face_card_shows_the_face_size_and_its_caveats():
    """The web app words a face's size and caveats as report.html does (one home: report.html's
    helpers); a face without them (a result from before they existed) shows neither."""
    from dfrec.report.html import caveat_sentences, face_size_text
    from dfrec.serve.pages import _face_card

    face = {"label": "Face 1", "score_fake": 0.9, "files": {}, "eye_distance_px": 14.2, "crop_scale": 3.7,
            "head_pose_deg": {"yaw": -4.0, "pitch": 3.2},
            "caveats": [{"code": "small_face", "message": "small face: its eyes are 14 px apart"}]}
    html = _face_card("/jobs/x/inputs/0", face, 0.5)
    assert "Less reliable here.</b> Small face: its eyes are 14 px apart." in html
    assert "Face size in the picture" in html and "eyes 14 px apart (the training faces: 32–51 px)" in html
    assert "Head pose" in html and "turned 4° to the side, tilted 3° chin down (the training faces: up to 26°" in html
    assert caveat_sentences(face) == ["Small face: its eyes are 14 px apart."]
    old = {"label": "Face 1", "score_fake": 0.9, "files": {}}
    assert face_size_text(old) is None and caveat_sentences(old) == []
    html = _face_card("/jobs/x/inputs/0", old, 0.5)
    assert "Less reliable" not in html and "Face size" not in html and "Head pose" not in html


def test_a_transport_stream_upload_is_stored_as_a_video(tmp_path, panning_face):
    """A broadcast capture or HLS segment uploaded under any name is kept as the video its bytes
    say (the sniffer reads far enough to see the packets' sync bytes 188 bytes apart)."""
    from types import SimpleNamespace

    from needs import need_module
    from repo_scripts import load_script

    from dfrec.serve.intake import _store_one

    need_module("av")
    load_script("benchmarks/video_clip.py").encode_clip(tmp_path / "clip.ts", panning_face(4), {"crf": "30"})
    upload = SimpleNamespace(filename="capture 2026-12-07.bin", file=io.BytesIO((tmp_path / "clip.ts").read_bytes()))
    (tmp_path / "uploads").mkdir()
    record = _store_one(upload, 1, tmp_path / "uploads", ServeConfig())
    assert record["status"] == "pending" and record["kind"] == "video" and record["stored"] == "1/capture_2026-12-07.ts"
    assert (tmp_path / "uploads" / record["stored"]).read_bytes() == (tmp_path / "clip.ts").read_bytes()
