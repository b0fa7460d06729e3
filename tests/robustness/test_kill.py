"""Finding 8 of issue 14 and the "after any kill" promise: SIGKILL ``dfrec recover`` at seven
points of a batch (mid-file of the first input, mid second input, before a result.json is
renamed in, before the summary, between moving an old result aside and renaming the new one
in, before the old one is deleted, mid summary write), rerun after each, and check the whole
output folder every time: every result folder's files equal its result.json's list and
hashes, a summary (when there is one) matches the folders, leftovers are removed by the next
run, and inputs finished earlier are not redone.

The kills are real SIGKILLs, sent by the process to itself at named points
(``DFREC_CRASH_AT``, see ``dfrec._faults``) so that each lands exactly where it should."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dfrec.io import TEMP_NAME, write_image
from dfrec.report.store import WORK, ResultStore

from .conftest import dfrec_env, raw_lines, run_dfrec, strict_json

pytest.importorskip("dlib")


def check_output_true(out: Path) -> dict[str, tuple[int, int]]:
    """Assert the invariants; return ``{folder: (inode, mtime_ns)}`` of each result.json."""
    results = ResultStore(out).results()
    stamps = {}
    for folder, result, problems in results:
        assert problems == [], (folder, problems)
        assert not any(p.is_dir() for p in folder.iterdir())
        st = (folder / "result.json").stat()
        stamps[folder.relative_to(out).as_posix()] = (st.st_ino, st.st_mtime_ns)
    result_dirs = {f for f, _, _ in results}
    for p in out.rglob("*"):
        if WORK in p.relative_to(out).parts:
            continue
        if p.is_dir():  # only result folders and the folders on the way to them
            assert p in result_dirs or any(p in r.parents for r in result_dirs), p
        elif p.parent == out:
            assert p.name in ("summary.json", "summary.html") or TEMP_NAME.match(p.name), p
        else:
            assert p.parent in result_dirs, p
    summary = out / "summary.json"
    if summary.exists():
        doc = strict_json(summary.read_text())
        listed = {e["folder"]: e["result_json"]["sha256"] for e in doc["results"]}
        assert listed == {k: hashlib.sha256((out / k / "result.json").read_bytes()).hexdigest() for k in stamps}
    return stamps


def leftovers(out: Path) -> list[Path]:
    temp = [p for p in out.rglob("*") if TEMP_NAME.match(p.name)]
    work = [p for sub in ("staging", "trash") if (out / WORK / sub).is_dir() for p in (out / WORK / sub).iterdir()]
    return temp + work


def test_sigkill_at_seven_points_then_rerun(tmp_path, face_small, tiny_checkpoint):
    d = tmp_path / "in"
    write_image(d / "a.png", face_small)
    write_image(d / "b.png", np.ascontiguousarray(face_small[:, ::-1]))
    write_image(d / "c.png", (face_small * 0.9).astype(np.uint8))
    out = tmp_path / "out"

    def run(crash_at: str | None, *extra: str):
        env = dfrec_env(**({"DFREC_CRASH_AT": crash_at} if crash_at else {}))
        r = run_dfrec("recover", d, "-o", out, "--checkpoint", tiny_checkpoint, "--device", "cpu", "--no-progress",
                      *extra, env=env)
        assert not raw_lines(r.stderr), r.stderr
        if crash_at:
            assert r.returncode == -9, (crash_at, r.returncode, r.stderr)  # really killed there
        return r

    # 1. mid-file of the first input (4th atomic write: face1_source.png of a)
    had = leftovers(out)
    run("atomic-write:4")
    assert check_output_true(out) == {} and leftovers(out)  # nothing committed; a staging folder left
    # 2. the first input done (9 writes), killed mid second input
    r = run("atomic-write:14")
    assert "removed" in r.stderr  # what run 1 left
    s2 = check_output_true(out)
    assert list(s2) == ["in/a"]
    # 3. a is skipped; b's 9th write (result.json) is in its temp file, not yet renamed in
    run("atomic-write:9")
    s3 = check_output_true(out)
    assert s3 == s2  # a not redone, b not committed
    # 4. b and c done, killed before the summary is written
    run("summary:1")
    s4 = check_output_true(out)
    assert sorted(s4) == ["in/a", "in/b", "in/c"] and s4["in/a"] == s2["in/a"]
    assert not (out / "summary.json").exists()  # no summary rather than a stale one
    # 5. --force: a's old result moved aside, the new one not yet renamed in
    run("commit-swap:1", "--force")
    s5 = check_output_true(out)
    assert sorted(s5) == ["in/b", "in/c"] and s5["in/b"] == s4["in/b"]
    # 6. a redone (its result was gone), killed after the rename, before the old copy is deleted
    run("commit-done:1")
    s6 = check_output_true(out)
    assert sorted(s6) == ["in/a", "in/b", "in/c"] and s6["in/b"] == s4["in/b"] and s6["in/c"] == s4["in/c"]
    # 7. all done: the first atomic write is summary.json's; killed with its temp file on disk
    run("atomic-write:1")
    assert check_output_true(out) == s6 and any(TEMP_NAME.match(p.name) for p in out.iterdir())
    # the rerun: nothing redone, every leftover removed, the summary lists all three
    r = run(None, "--json")
    assert r.returncode == 0, r.stderr
    assert check_output_true(out) == s6 and leftovers(out) == [] and not had
    summary = strict_json(r.stdout)
    assert summary["last_run"]["already_done"] == 3 and summary["last_run"]["processed"] == 0
    assert json.loads((out / "summary.json").read_text())["processed"] == 3
