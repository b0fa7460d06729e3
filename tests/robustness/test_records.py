"""Findings 3, 5, 8 of issue 14: result folders hold exactly what their result.json lists,
reruns resume instead of redoing, the summary merges every result in the folder, one run
writes a folder at a time, and leftovers of killed runs are removed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from dfrec.cli.main import main
from dfrec.io import write_image
from dfrec.report.store import ResultStore, verify_folder

pytest.importorskip("dlib")


def recover(*args, ckpt, capsys=None) -> tuple[int, str]:
    rc = main(["recover", *map(str, args), "--checkpoint", str(ckpt), "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err if capsys is not None else ""
    return rc, err


def check_folder_true(out: Path) -> list[Path]:
    """Every result folder under ``out`` matches its result.json; returns them."""
    store = ResultStore(out)
    found = store.results()
    for folder, _result, problems in found:
        assert problems == [], (folder, problems)
    return [f for f, _, _ in found]


def stamp(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_ino, st.st_mtime_ns


def test_rerun_with_fewer_faces_lists_no_stale_files(tmp_path, two_faces, tiny_checkpoint, capsys):
    img = write_image(tmp_path / "two.png", two_faces)
    out = tmp_path / "out"
    assert recover(img, "-o", out, ckpt=tiny_checkpoint)[0] == 0
    first = json.loads((out / "two" / "result.json").read_text())
    assert len(first["faces"]) == 2
    assert recover(img, "-o", out, "--max-faces", "1", ckpt=tiny_checkpoint)[0] == 0  # settings changed: redone
    result = json.loads((out / "two" / "result.json").read_text())
    assert len(result["faces"]) == 1
    names = {p.name for p in (out / "two").iterdir()}
    assert not any(n.startswith("face2_") for n in names)
    assert verify_folder(out / "two") == []
    assert "face2_" not in (out / "two" / "report.html").read_text()


def test_same_name_other_image_replaces_the_result_as_a_unit(tmp_path, face_small, two_faces, tiny_checkpoint):
    out = tmp_path / "out"
    img = write_image(tmp_path / "a" / "photo.png", two_faces)
    assert recover(img, "-o", out, ckpt=tiny_checkpoint)[0] == 0
    write_image(img, face_small)  # another picture, same name
    assert recover(img, "-o", out, ckpt=tiny_checkpoint)[0] == 0
    result = json.loads((out / "photo" / "result.json").read_text())
    assert len(result["faces"]) == 1 and verify_folder(out / "photo") == []
    import hashlib

    assert result["input"]["sha256"] == hashlib.sha256(img.read_bytes()).hexdigest()


def test_resume_skips_done_inputs_force_redoes_and_summary_merges(tmp_path, face_small, tiny_checkpoint, capsys):
    d = tmp_path / "in"
    write_image(d / "a.png", face_small)
    write_image(d / "b.png", np.ascontiguousarray(face_small[:, ::-1]))
    out = tmp_path / "out"
    assert recover(d / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)[0] == 0
    a_json = out / "a" / "result.json"
    before = stamp(a_json)
    # a second run with another input: a is not redone, b added, the summary lists both
    assert recover(d / "a.png", d / "b.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)[0] == 0
    assert stamp(a_json) == before
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(r["folder"] for r in summary["results"]) == ["a", "b"]
    assert summary["last_run"]["already_done"] == 1 and summary["last_run"]["processed"] == 1
    # a run that processes nothing keeps every earlier result in the summary
    rc, err = recover(tmp_path / "missing.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)
    assert rc == 2 and "no such file" in err
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(r["folder"] for r in summary["results"]) == ["a", "b"]
    # a changed setting redoes it; so does --force
    assert recover(d / "a.png", "-o", out, "--seed", "1", ckpt=tiny_checkpoint)[0] == 0
    after_seed = stamp(a_json)
    assert after_seed != before
    assert json.loads(a_json.read_text())["settings"]["seed"] == 1
    assert recover(d / "a.png", "-o", out, "--seed", "1", ckpt=tiny_checkpoint)[0] == 0
    assert stamp(a_json) == after_seed
    assert recover(d / "a.png", "-o", out, "--seed", "1", "--force", ckpt=tiny_checkpoint)[0] == 0
    assert stamp(a_json) != after_seed
    # a result edited after the fact is not listed by the summary, and its input is redone
    (out / "b" / "face1_target.png").write_bytes(b"edited")
    (out / "b" / "extra.txt").write_text("not ours")
    assert recover(d / "a.png", "-o", out, "--seed", "1", ckpt=tiny_checkpoint)[0] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["folder"] for r in summary["results"]] == ["a"]
    assert any(f["input"] == "b" and "does not match" in f["reason"] for f in summary["failed"])
    assert recover(d / "b.png", "-o", out, ckpt=tiny_checkpoint)[0] == 0
    assert verify_folder(out / "b") == [] and not (out / "b" / "extra.txt").exists()
    check_folder_true(out)


def test_a_result_in_an_older_report_layout_is_redone(tmp_path, face_small, tiny_checkpoint, capsys):
    """A result written before the report gained a file (no ``report_format``, or a lower one)
    does not count as done: the rerun says why and writes the current layout."""
    from dfrec.report.writer import REPORT_FORMAT

    write_image(tmp_path / "a.png", face_small)
    out = tmp_path / "out"
    assert recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)[0] == 0
    a_json = out / "a" / "result.json"
    result = json.loads(a_json.read_text())
    assert result["report_format"] == REPORT_FORMAT
    del result["report_format"]  # as dfrec wrote it before the field existed
    a_json.write_text(json.dumps(result))
    rc, err = recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)
    assert rc == 0 and "made with an older report layout" in err
    assert json.loads(a_json.read_text())["report_format"] == REPORT_FORMAT
    before = stamp(a_json)
    assert recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)[0] == 0
    assert stamp(a_json) == before  # the current layout stands
    check_folder_true(out)


def test_second_run_into_a_locked_folder_stops_at_once(tmp_path, face_small, tiny_checkpoint, capsys, monkeypatch):
    out = tmp_path / "out"
    write_image(tmp_path / "a.png", face_small)
    import dfrec.recover

    def no_model(*a, **k):
        raise AssertionError("the model was loaded although the output folder is locked")

    with ResultStore(out):  # another run holds the folder
        monkeypatch.setattr(dfrec.recover.Recoverer, "from_pretrained", no_model)
        rc, err = recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)
    assert rc == 2
    (line,) = err.strip().splitlines()
    assert "another dfrec run (pid" in line and str(os.getpid()) in line and "choose another -o" in line
    assert not (out / "a").exists()


@pytest.mark.parametrize("what", ["file", "unwritable"])
def test_output_problems_are_found_before_any_work(tmp_path, face_small, tiny_checkpoint, capsys, monkeypatch, what):
    write_image(tmp_path / "a.png", face_small)
    out = tmp_path / "out"
    if what == "file":
        out.write_text("I am a file")
    else:
        out.mkdir()
        out.chmod(0o500)
        if os.access(out, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes (the non-root check is in test_corpus)")
    import dfrec.recover

    monkeypatch.setattr(dfrec.recover.Recoverer, "from_pretrained",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("model loaded first")))
    rc, err = recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert ("not a folder" in err) if what == "file" else ("permission denied" in err)
    for cmd in (["evaluate", "--data", str(tmp_path), "--out", str(out)],):
        assert main(cmd) == 2
        assert "choose another --out" in capsys.readouterr().err


def test_leftovers_of_a_killed_run_are_removed(tmp_path, face_small, tiny_checkpoint, capsys):
    out = tmp_path / "out"
    write_image(tmp_path / "a.png", face_small)
    assert recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint)[0] == 0
    # what a SIGKILL leaves: a 0-byte temp file of an atomic write, a half-written staging folder
    (out / ".summary.json.ab12cd_3.tmp.json").write_bytes(b"")
    (out / "a" / ".face1_map.png.zz99yy00.tmp.png").write_bytes(b"")
    stage = out / ".dfrec" / "staging" / "0123abcd"
    stage.mkdir(parents=True)
    (stage / "face1_forgery.png").write_bytes(b"half")
    keep = out / "notes.tmp.txt"
    keep.write_text("a user's file that only looks like a temp file")
    rc, err = recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)
    assert rc == 0 and "removed 3 partial file(s)" in err
    assert not list(out.rglob("*.tmp.*png")) and not (out / ".summary.json.ab12cd_3.tmp.json").exists()
    assert list((out / ".dfrec" / "staging").iterdir()) == [] and keep.exists()
    check_folder_true(out)


def test_result_names_never_nest(tmp_path, face_small, tiny_checkpoint):
    d = tmp_path / "in"
    write_image(d / "a.png", face_small)
    write_image(d / "a" / "b.png", face_small[:, ::-1])
    write_image(d / "A.PNG", (face_small * 0.9).astype(np.uint8))  # same name but for case
    out = tmp_path / "out"
    assert recover(d, "-o", out, ckpt=tiny_checkpoint)[0] == 0
    folders = check_folder_true(out)
    rel = sorted(f.relative_to(out).as_posix() for f in folders)
    assert len(rel) == 3 and "in/a/b" in rel
    assert not any(b.startswith(a + "/") for a in rel for b in rel if a != b)


def test_a_folder_dfrec_did_not_write_is_never_replaced(tmp_path, face_small, tiny_checkpoint, capsys):
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "my_notes.txt").write_text("the user's own folder")
    write_image(tmp_path / "a.png", face_small)
    rc, err = recover(tmp_path / "a.png", "-o", out, ckpt=tiny_checkpoint, capsys=capsys)
    assert rc == 2 and "not a dfrec result folder; not replaced" in err
    assert (out / "a" / "my_notes.txt").read_text() == "the user's own folder"


def test_result_names_are_unique_visible_and_never_nest(tmp_path):
    from dfrec.cli.recover import collect_inputs

    d = tmp_path / ".evidence"
    for rel in ["a.png", "a/b.png", "A.jpg", "a_png.png", "sub/c.png"]:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(b"x")
    (tmp_path / ".single.png").write_bytes(b"x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(b"x")  # another file whose stem is "a", given singly
    ignored: list[dict[str, str]] = []
    items, failed = collect_inputs([str(d), str(tmp_path / ".single.png"), str(tmp_path / "other" / "a.png"),
                                    str(d / "a.png")], tmp_path / "out", ignored)
    names = [n.as_posix() for _, _, n in items]
    assert failed == [] and len(names) == 7 and len({n.lower() for n in names}) == 7
    # the folder's a.png given again by name is the same file: analysed once, listed as passed over
    assert ignored == [{"input": str(d / "a.png"), "reason": "the same file as an input before it"}]
    assert not any(part.startswith(".") for n in names for part in n.split("/"))  # summaries list every result
    assert not any(b.startswith(a + "/") for a in names for b in names if a != b)
    assert "evidence/a/b" in names and "single" in names


def test_files_given_singly_that_share_a_name_all_take_their_folders_name(tmp_path):
    """examples/a/forgery.png and examples/b/forgery.png become a_forgery and b_forgery in either
    order (not forgery and b_forgery); a file whose name is alone keeps its stem."""
    from dfrec.cli.recover import collect_inputs

    files = []
    for rel in ["a/forgery.png", "b/forgery.png", ".c/forgery.png", "d/alone.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
        files.append(str(tmp_path / rel))
    for order in (files, files[::-1]):
        items, failed = collect_inputs(order, tmp_path / "out")
        named = {Path(p).relative_to(tmp_path).as_posix(): n.as_posix() for p, _, n in items}
        assert failed == [] and named == {"a/forgery.png": "a_forgery", "b/forgery.png": "b_forgery",
                                          ".c/forgery.png": "c_forgery", "d/alone.png": "alone"}
