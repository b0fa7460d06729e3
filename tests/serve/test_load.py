"""Load test of ``dfrec serve`` on 127.0.0.1: 50 uploads at once.

Every upload must end one of two ways: accepted (HTTP 201) and then finished by the worker,
or refused at once with HTTP 503 and a message saying the queue is full (nothing stored).
None may be lost (accepted but never finished, or missing from the case list), none may get
another answer, and the server's memory must stay bounded. The queue limit (8) bounds the
test's duration: at most a handful of jobs run, the rest are refused immediately.
"""

from __future__ import annotations

import threading
import time

import cv2

from dfrec.io import read_image

from .helpers import EXAMPLE, WAIT_S, Server, png_bytes, rss_mb

SENT = 50
MAX_QUEUE = 8
#: Memory bounds (MB): the web process must not grow with the number of uploads; the worker
#: holds one model and one small picture at a time.
WEB_GROWTH_MB = 150
WORKER_MB = 3000


def test_fifty_concurrent_uploads(tmp_path):
    small = cv2.resize(read_image(EXAMPLE), (156, 180), interpolation=cv2.INTER_AREA)
    payload = png_bytes(small)
    srv = Server(tmp_path / "data", "--max-queue", str(MAX_QUEUE)).start()
    try:
        web_pid = srv.proc.pid
        web_before = rss_mb(web_pid)
        results: list[tuple[int, object]] = [None] * SENT  # type: ignore[list-item]
        barrier = threading.Barrier(SENT)

        def send(i: int) -> None:
            barrier.wait()
            results[i] = srv.upload([(f"face{i:02d}.png", payload)])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(SENT)]
        for t in threads:
            t.start()
        peak_web = peak_worker = 0.0
        while any(t.is_alive() for t in threads):
            pids = srv.pids()
            peak_web = max(peak_web, rss_mb(web_pid))
            peak_worker = max([peak_worker] + [rss_mb(p) for p in pids[1:]])
            time.sleep(0.05)
        for t in threads:
            t.join()

        codes = [code for code, _ in results]
        accepted = [body["id"] for code, body in results if code == 201]
        refused = [body for code, body in results if code == 503]
        assert sorted(set(codes)) <= [201, 503], f"unexpected answers: {codes}"
        assert len(accepted) + len(refused) == SENT
        assert accepted, "the queue accepted nothing"
        assert all(r["status"] == "refused" and "queue is full" in r["error"] for r in refused)

        # every accepted job finishes; poll until none is active (bounded wait, not a timing assertion)
        deadline = time.monotonic() + WAIT_S
        while True:
            _, listing = srv.get_json("/api/jobs?limit=1000")
            jobs = {j["id"]: j for j in listing["jobs"]}
            peak_web = max(peak_web, rss_mb(web_pid))
            peak_worker = max([peak_worker] + [rss_mb(p) for p in srv.pids()[1:]])
            if all(jobs.get(i, {}).get("status") in ("done", "interrupted") for i in accepted):
                break
            assert time.monotonic() < deadline, f"jobs still unfinished after {WAIT_S} s"
            time.sleep(0.5)
        finished = [i for i in accepted if jobs[i]["status"] == "done"
                    and jobs[i]["inputs"][0]["status"] == "done" and jobs[i]["inputs"][0]["faces"] == 1]
        lost = [i for i in accepted if i not in jobs or i not in finished]
        assert len(jobs) == len(accepted)  # refused uploads left no job behind
        web_growth = peak_web - web_before
        print(f"\nload test: sent {SENT}, accepted {len(accepted)}, finished {len(finished)}, refused {len(refused)} "
              f"(HTTP 503, queue limit {MAX_QUEUE}), lost {len(lost)}; web process RSS {web_before:.0f} -> peak "
              f"{peak_web:.0f} MB, worker peak {peak_worker:.0f} MB")
        assert not lost
        assert web_growth < WEB_GROWTH_MB
        assert peak_worker < WORKER_MB
        # the server still answers normally afterwards
        code, health = srv.get_json("/api/health")
        assert code == 200 and health["queue"] == 0 and health["worker"] == "ready"
    finally:
        srv.stop()
