"""``dfrec serve`` over HTTP: limits, untrusted input, file access, token, cross-site requests."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from .helpers import EXAMPLE, ROOT, Server, dead, example_video, multipart, png_bytes

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("api") / "data", "--max-upload-mb", "2", "--max-files", "3",
               token=TOKEN).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def done_job(srv):
    code, body = srv.upload([("example.png", EXAMPLE.read_bytes())])
    assert code == 201, body
    return srv.wait_job(body["id"])


def test_token_required(srv):
    code, body, _ = srv.request("/api/jobs", headers={"Authorization": "Bearer wrong-token-000000000000"})
    assert code == 401 and "token" in json.loads(body)["error"]
    code, _, headers = srv.request("/?token=" + TOKEN)  # the printed address sets a cookie
    assert code == 200
    code, _, _ = srv.request("/cases")
    assert code == 200


def test_foreign_host_and_origin_refused(srv):
    code, _, _ = srv.request("/", headers={"Host": "attacker.example:80"})  # DNS rebinding
    assert code == 421
    body, ctype = multipart([("a.png", png_bytes(np.zeros((8, 8, 3), np.uint8)))])
    code, raw, _ = srv.request("/api/jobs", body, {"Content-Type": ctype, "Origin": "http://attacker.example"})
    assert code == 403  # a cross-site form post
    code, _, _ = srv.request("/api/jobs/x/rerun", b"", {"Origin": "null"}, method="POST")
    assert code == 403


def test_limits_and_refusals(srv):
    code, body = srv.upload([("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 2_200_000)])
    assert code == 413 and "limit is 2 MB" in body["error"]
    small = png_bytes(np.zeros((8, 8, 3), np.uint8))
    code, body = srv.upload([(f"{i}.png", small) for i in range(4)])
    assert code == 400 and "limit is 3" in body["error"]
    code, body = srv.upload([("notes.jpg", b"just some text, not a picture")])
    assert code == 400 and body["rejected"] == [{"name": "notes.jpg", "message": "text, not an image or a video"}]
    code, body = srv.upload([("anim.gif", b"GIF89a" + b"\x00" * 100)])
    assert code == 400 and "GIF" in body["rejected"][0]["message"]
    code, body = srv.upload([])
    assert code == 400
    code, raw, _ = srv.request("/api/jobs", b"not multipart", {"Content-Type": "text/plain"})
    assert code == 400
    code, raw, _ = srv.request("/api/jobs", b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"})
    assert code == 400 and json.loads(raw)["error"]


def test_bad_files_get_a_clear_message(srv):
    blank = png_bytes(np.full((120, 160, 3), 200, np.uint8))
    truncated = EXAMPLE.read_bytes()[:3000]
    code, body = srv.upload([("blank.png", blank), ("cut.png", truncated), ("notes.png", b"hello")])
    assert code == 201 and body["rejected"][0]["name"] == "notes.png"
    job = srv.wait_job(body["id"])
    assert job["status"] == "done"
    by_name = {i["name"]: i for i in job["inputs"]}
    assert by_name["blank.png"]["status"] == "failed" and "no face found" in by_name["blank.png"]["message"]
    assert by_name["cut.png"]["status"] == "failed" and "could not be processed" in by_name["cut.png"]["message"]
    assert by_name["notes.png"]["status"] == "rejected"
    assert str(srv.data) not in json.dumps(job)  # no server paths in what the browser sees
    code, _, _ = srv.request(f"/jobs/{job['id']}/inputs/1")  # a failed input has no results page
    assert code == 200  # redirected to the job page


def test_files_only_from_the_jobs_folder(srv, done_job):
    jid = done_job["id"]
    base = f"/jobs/{jid}/inputs/1"
    code, body, headers = srv.request(base + "/result.json")
    assert code == 200 and json.loads(body)["faces"]
    for name in json.loads(body)["faces"][0]["files"].values():
        code, _, _ = srv.request(f"{base}/files/{name}")
        assert code == 200
    code, body, headers = srv.request(base + "/report.html?download=1")
    assert code == 200 and "attachment" in headers["content-disposition"]
    assert headers["content-security-policy"].startswith("default-src 'none'")
    for bad in ("/files/..%2F..%2F..%2Fserve.sqlite", "/files/..", "/files/.hidden", "/files/%2Fetc%2Fpasswd",
                "/preview/..%2Fresults%2F1%2Fresult.json", "/files/nothere.png"):
        code, _, _ = srv.request(base + bad)
        assert code == 404, bad
    for other in ("/jobs/AAAAAAAAAAAAAAAAAAAAAA/inputs/1/result.json", "/jobs/../inputs/1/result.json",
                  "/api/jobs/AAAAAAAAAAAAAAAAAAAAAA", "/jobs/AAAAAAAAAAAAAAAAAAAAAA"):
        code, _, _ = srv.request(other)
        assert code == 404, other
    code, raw, _ = srv.request(f"/jobs/{jid}/all.zip")
    assert code == 200 and raw[:2] == b"PK"


def test_result_page_shows_the_provenance_of_result_json(srv, done_job):
    """The web page lists what report.html does: every hash of result.json, dlib's files, threads."""
    base = f"/jobs/{done_job['id']}/inputs/1"
    code, body, _ = srv.request(base + "/result.json")
    result = json.loads(body)
    code, page, _ = srv.request(base)
    assert code == 200
    page = page.decode() if isinstance(page, bytes) else page
    assert 'id="provenance"' in page and "CPU threads (torch)" in page
    hashes = [f["sha256"] for f in result["outputs"] + result["model"]["files"]]
    hashes += [f["sha256"] for f in result["model"]["dlib_files"] if f.get("sha256")]
    assert hashes and all(h in page for h in hashes + [result["input"]["sha256"]])


def test_rerun_only_interrupted(srv, done_job):
    code, raw, _ = srv.request(f"/api/jobs/{done_job['id']}/rerun", b"", method="POST")
    assert code == 409


def test_off_loopback_needs_a_token():
    r = subprocess.run([sys.executable, "-m", "dfrec", "serve", "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
                       timeout=120)
    assert r.returncode != 0 and "--token" in r.stderr and "Traceback" not in r.stderr


def test_video_upload(srv, tmp_path):
    import cv2

    from dfrec.io import read_image

    frame = cv2.cvtColor(read_image(EXAMPLE), cv2.COLOR_RGB2BGR)
    path = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 4, (frame.shape[1], frame.shape[0]))
    for _ in range(8):  # 2 s at 4 fps: 2 frames sampled at the default 1 fps
        w.write(frame)
    w.release()
    code, body = srv.upload([("clip.mp4", path.read_bytes())])
    assert code == 201, body
    job = srv.wait_job(body["id"])
    inp = job["inputs"][0]
    assert inp["kind"] == "video" and inp["status"] == "done" and inp["faces"] == 1
    code, raw, _ = srv.request(f"/jobs/{job['id']}/inputs/1/result.json")
    result = json.loads(raw)
    assert result["input"]["kind"] == "video" and result["input"]["frames_sampled"] == 2
    assert result["faces"][0]["n_frames"] == 2
    code, page, _ = srv.request(f"/jobs/{job['id']}/inputs/1")
    assert code == 200 and b"track1.jpg" in page and b"Frames with this face" in page
    assert b"/files/faces_found.jpg" in page and b"Frame #0 at 0.00 s" in page  # the frame with the tracks numbered


def test_interrupted_job_is_marked_and_rerun(tmp_path):
    """Stop the server while a video is being analysed: after a restart the job is interrupted,
    and re-running it finishes it."""
    path = example_video(tmp_path / "long.avi", 12)
    data = tmp_path / "data"
    srv = Server(data, "--fps", "0").start()  # every frame: 12 frames to analyse
    try:
        code, body = srv.upload([("long.avi", path.read_bytes())])
        assert code == 201, body
        srv.wait_inside_video(body["id"])
    finally:
        srv.stop()  # SIGTERM: uvicorn shuts down, the worker stops at the next frame
    srv = Server(data, "--fps", "0").start()
    try:
        _, job = srv.get_json(f"/api/jobs/{body['id']}")
        # marked by the worker itself as it stopped (a killed server would be marked at the restart)
        assert job["status"] == "interrupted" and job["message"].startswith("the server stopped while")
        assert job["inputs"][0]["status"] == "pending"
        code, raw, _ = srv.request(f"/api/jobs/{body['id']}/rerun", b"", method="POST")
        assert code == 202
        job = srv.wait_job(body["id"])
        assert job["status"] == "done" and job["runs"] == 2
        assert job["inputs"][0]["status"] == "done" and job["inputs"][0]["faces"] == 1
    finally:
        srv.stop()


def test_delete_finished_case(srv, done_job):
    code, body = srv.upload([("example.png", EXAMPLE.read_bytes())])
    assert code == 201, body
    jid = srv.wait_job(body["id"])["id"]
    folder = srv.data / "jobs" / jid
    assert (folder / "results" / "1" / "result.json").is_file()
    code, raw, _ = srv.request(f"/api/jobs/{jid}", method="DELETE")
    assert code == 200 and json.loads(raw) == {"id": jid, "status": "deleted", "previous_status": "done"}
    assert not folder.exists() and not any((srv.data / "trash").iterdir())  # uploads and results are gone
    for path in (f"/api/jobs/{jid}", f"/jobs/{jid}", f"/jobs/{jid}/inputs/1", f"/jobs/{jid}/inputs/1/result.json",
                 f"/jobs/{jid}/inputs/1/report.html", f"/jobs/{jid}/all.zip"):
        code, _, _ = srv.request(path)
        assert code == 404, path
    _, listing = srv.get_json("/api/jobs")
    ids = [j["id"] for j in listing["jobs"]]
    assert jid not in ids and done_job["id"] in ids  # the other cases are untouched
    code, raw, _ = srv.request(f"/jobs/{done_job['id']}/all.zip")
    assert code == 200 and raw[:2] == b"PK"
    code, page, _ = srv.request("/cases")
    assert code == 200 and jid[:8].encode() not in page and done_job["id"][:8].encode() in page
    code, raw, _ = srv.request(f"/api/jobs/{jid}", method="DELETE")
    assert code == 404 and json.loads(raw)["error"] == "no such job"


def test_delete_form_and_refusals(srv):
    code, body = srv.upload([("wall.png", png_bytes(np.full((120, 160, 3), 200, np.uint8)))])
    assert code == 201, body
    jid = srv.wait_job(body["id"])["id"]
    for headers in ({"Origin": "http://attacker.example"}, {"Origin": "null"}):  # cross-site
        code, _, _ = srv.request(f"/jobs/{jid}/delete", b"confirmed=yes",
                                 {**headers, "Content-Type": "application/x-www-form-urlencoded"}, method="POST")
        assert code == 403
        code, _, _ = srv.request(f"/api/jobs/{jid}", headers=headers, method="DELETE")
        assert code == 403
    code, _, _ = srv.request(f"/api/jobs/{jid}", headers={"Host": "attacker.example:80"}, method="DELETE")
    assert code == 421
    code, _, _ = srv.request(f"/api/jobs/{jid}", headers={"Authorization": "Bearer wrong-token-000000000000"},
                             method="DELETE")
    assert code == 401
    assert srv.get_json(f"/api/jobs/{jid}")[0] == 200 and (srv.data / "jobs" / jid).is_dir()  # nothing deleted
    unknown = "AAAAAAAAAAAAAAAAAAAAAA"
    for path, method in ((f"/api/jobs/{unknown}", "DELETE"), (f"/jobs/{unknown}/delete", "POST"),
                         ("/api/jobs/..", "DELETE"), ("/api/jobs/..%2F..%2Fserve.sqlite", "DELETE")):
        code, _, _ = srv.request(path, b"" if method == "POST" else None, method=method)
        assert code == 404, path
    assert (srv.data / "serve.sqlite").is_file()
    # every case on /cases has a Delete button; its form posts to the same place as the job page's
    code, page, _ = srv.request("/cases")
    assert code == 200 and f'action="/jobs/{jid}/delete"'.encode() in page and b'data-confirm="Delete case' in page
    # the form without confirmed=yes (a browser without JavaScript, so no dialog): a page asks first
    code, page, _ = srv.request(f"/jobs/{jid}/delete", b"", {"Origin": srv.url}, method="POST")
    assert code == 200 and b'id="delete-question"' in page and b"cannot be undone" in page
    assert b'name="confirmed" value="yes"' in page and (srv.data / "jobs" / jid).is_dir()  # nothing deleted yet
    # confirmed (that page's button, or the dialog in app.js): redirected to the cases, which say it was deleted
    form = {"Origin": srv.url, "Content-Type": "application/x-www-form-urlencoded"}
    code, page, _ = srv.request(f"/jobs/{jid}/delete", b"confirmed=yes", form, method="POST")
    assert code == 200 and b'id="deleted-note"' in page and page.count(jid[:8].encode()) == 1  # in the note only
    assert not (srv.data / "jobs" / jid).exists() and srv.get_json(f"/api/jobs/{jid}")[0] == 404


def test_delete_queued_and_running(tmp_path):
    """While a video is analysed, the case queued behind it is cancelled and deleted, the running
    one is refused (HTTP 409) and kept; files a crash left in the trash are removed at the start."""
    data = tmp_path / "data"
    leftover = data / "trash" / "AAAAAAAAAAAAAAAAAAAAAA.0123abcd"  # renamed and un-listed, then the server died
    (leftover / "uploads" / "1").mkdir(parents=True)
    (leftover / "uploads" / "1" / "face.png").write_bytes(EXAMPLE.read_bytes())
    path = example_video(tmp_path / "long.avi", 40)
    srv = Server(data, "--fps", "0").start()  # every frame: 40 frames keep the worker busy
    try:
        assert not leftover.exists() and not any((data / "trash").iterdir())
        code, running = srv.upload([("long.avi", path.read_bytes())])
        assert code == 201, running
        srv.wait_inside_video(running["id"])
        code, queued = srv.upload([("example.png", EXAMPLE.read_bytes())])
        assert code == 201 and srv.get_json(f"/api/jobs/{queued['id']}")[1]["status"] == "queued"
        code, raw, _ = srv.request(f"/api/jobs/{queued['id']}", method="DELETE")
        assert code == 200 and json.loads(raw)["previous_status"] == "queued"
        code, raw, _ = srv.request(f"/api/jobs/{running['id']}", method="DELETE")
        assert code == 409 and json.loads(raw)["error"] == "the case is being analysed; delete it when it has finished"
        code, page, _ = srv.request(f"/jobs/{running['id']}/delete", b"", method="POST")
        assert code == 409 and b"being analysed" in page
        _, job = srv.get_json(f"/api/jobs/{running['id']}")
        assert job["status"] == "running" and (data / "jobs" / running["id"] / "uploads").is_dir()
        assert srv.get_json(f"/api/jobs/{queued['id']}")[0] == 404 and not (data / "jobs" / queued["id"]).exists()
        _, health = srv.get_json("/api/health")
        assert health["queue"] == 1  # the cancelled case left the queue: only the running one is there
    finally:
        srv.stop()


def test_second_server_on_the_same_data_is_refused(tmp_path):
    """A second `dfrec serve --data D` while one runs on D stops at once (exit 2, naming the
    first) without touching D: the running job stays running, an upload being received stays.
    After a crash of the first (SIGKILL) the next start is not blocked and recovers the job."""
    import os
    import signal
    import time

    path = example_video(tmp_path / "long.avi", 300)
    data = tmp_path / "data"
    first = Server(data, "--fps", "0").start()  # every frame: 300 frames keep the worker busy
    try:
        code, body = first.upload([("long.avi", path.read_bytes())])
        assert code == 201, body
        first.wait_inside_video(body["id"])
        incoming = data / "jobs" / ".incoming-AAAAAAAAAAAAAAAAAAAAAA" / "uploads"  # an upload being received
        incoming.mkdir(parents=True)
        (incoming / "face.png").write_bytes(EXAMPLE.read_bytes())
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
        r = subprocess.run([sys.executable, "-m", "dfrec", "serve", "--port", "0", "--data", str(data), "--device",
                            "cpu"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        holder = (data / "serve.lock").read_text().strip()
        assert holder.startswith(f"pid {first.proc.pid}, started ")
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr == (f"dfrec: error: {data}: another dfrec serve ({holder}) is using this data folder; "
                            "stop it first or choose another --data\n")
        _, job = first.get_json(f"/api/jobs/{body['id']}")
        assert job["status"] == "running" and job["inputs"][0]["stage"].startswith("frame")
        assert (incoming / "face.png").is_file()
        pids = first.pids()  # the web process, its worker (and multiprocessing's resource tracker)
        assert len(pids) >= 2
        for pid in pids:  # a crash: they all die at once
            os.kill(pid, signal.SIGKILL)
    finally:
        first.stop()
    deadline = time.monotonic() + 60
    while not all(dead(pid) for pid in pids):
        assert time.monotonic() < deadline, pids
        time.sleep(0.1)
    second = Server(data, "--fps", "0").start(wait_ready=False)  # the dead server's lock file does not block
    try:
        _, job = second.get_json(f"/api/jobs/{body['id']}")
        assert job["status"] == "interrupted" and job["message"].startswith("the server was restarted while")
        assert "1 job(s) were interrupted by the last shutdown" in second.log.read_text()
        assert not incoming.parent.exists()  # what the crash left is cleaned up now
        assert (data / "serve.lock").read_text().startswith(f"pid {second.proc.pid}, started ")
    finally:
        second.stop()


def test_phone_heic_upload(srv, tmp_path):
    """An iPhone-style HEIC photo is taken as a picture (not as the MP4 its container resembles)
    and analysed like any other; the page shows it as a JPEG preview, which every browser can display."""
    import io

    from PIL import Image

    from dfrec.heif import read_heif_encoding
    from dfrec.io import enable_heif, read_image

    assert enable_heif()
    buf = io.BytesIO()
    Image.fromarray(read_image(EXAMPLE)).save(buf, format="HEIF", quality=90)
    code, body = srv.upload([("IMG_0001.HEIC", buf.getvalue())])
    assert code == 201, body
    job = srv.wait_job(body["id"])
    inp = job["inputs"][0]
    assert inp["kind"] == "image" and inp["status"] == "done" and inp["faces"] == 1, inp
    code, page, _ = srv.request(f"/jobs/{job['id']}/inputs/1")
    assert code == 200 and b"IMG_0001.HEIC" in page and b"/preview/preview.jpg" in page
    saved = tmp_path / "IMG_0001.HEIC"
    saved.write_bytes(buf.getvalue())
    qp = read_heif_encoding(saved)["qp"]  # the provenance, as in report.html, with the QP its slice header states
    assert (f"<th>Input format</th><td>HEIF (HEVC, Main Still Picture profile, a quantiser (QP) of {qp:g}, from its "
            "slice header; 0-51, higher is coarser); read as 8-bit RGB</td>").encode() in page
    code, preview, _ = srv.request(f"/jobs/{job['id']}/inputs/1/preview/preview.jpg")  # what any browser can show
    assert code == 200 and preview[:3] == b"\xff\xd8\xff"


def test_animated_gif_upload_says_only_its_first_frame_was_analysed(srv):
    """The web app takes GIFs as the CLI does, and its report carries the same note: an
    animation is analysed on its first frame only."""
    import io

    from PIL import Image

    from dfrec.io import read_image

    first = Image.fromarray(read_image(EXAMPLE))
    buf = io.BytesIO()
    first.save(buf, format="GIF", save_all=True, append_images=[first.transpose(Image.FLIP_LEFT_RIGHT)], duration=100)
    code, body = srv.upload([("clip.gif", buf.getvalue())])
    assert code == 201, body
    job = srv.wait_job(body["id"])
    assert job["inputs"][0]["status"] == "done", job["inputs"][0]
    code, raw, _ = srv.request(f"/jobs/{job['id']}/inputs/1/result.json")
    result = json.loads(raw)
    assert result["input"]["format"] == "GIF" and result["input"]["frames_in_file"] == 2
    assert result["notes"] == ["This file holds 2 frames or pages (an animation or a multi-page file); only the "
                               "first was analysed."]
