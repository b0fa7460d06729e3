"""The bad-input corpus (``corpus.py``, generated on the fly) through the real commands:
``dfrec recover`` on the whole folder in a child process (as a user runs it), ``dfrec faces``
on it, and single bad files as direct arguments of ``recover`` and ``verify``.

Every case must end as expected (a result, a failure with its reason, or listed as
ignored), every message must be one line without library text, no native crash, and every
result folder must match its result.json."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dfrec.cli.main import main
from dfrec.errors import shown
from dfrec.report.store import ResultStore

from .conftest import raw_lines, run_dfrec, strict_json
from .corpus import build_corpus

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, face_small):
    d = tmp_path_factory.mktemp("corpus") / "corpus"
    return d, build_corpus(d, face_small)


def test_corpus_through_recover(corpus, tmp_path, tiny_checkpoint):
    d, cases = corpus
    out = tmp_path / "out"
    r = run_dfrec("recover", d, "-o", out, "--checkpoint", tiny_checkpoint, "--device", "cpu", "--no-progress",
                  "--json", "--max-frames", "2")
    assert r.returncode == 0, r.stderr
    assert not raw_lines(r.stderr), raw_lines(r.stderr)
    assert "crashed" not in r.stderr
    summary = strict_json(r.stdout)
    done = {Path(e["input"]): e for e in summary["results"]}
    failed = {Path(f["input"]): f["reason"] for f in summary["failed"]}
    ignored = {Path(f["input"]): f["reason"] for f in summary["ignored"]}
    wrong = []
    for c in cases:
        p = d / c.name
        key = Path(os.path.abspath(p))
        status = ("ok" if key in done or p in done else "fail" if p in failed else "ignore" if p in ignored
                  else "missing")
        if status == "missing" or (c.expect != "either" and status != c.expect) or (
                c.expect == "either" and status not in ("ok", "fail")):
            wrong.append(f"{shown(c.name)}: expected {c.expect}, got {status} {failed.get(p, '')}")
        elif status == "fail":
            reason = failed[p]
            if c.words and c.words not in reason or "\n" in reason or raw_lines(reason):
                wrong.append(f"{shown(c.name)}: reason {reason!r} (wanted {c.words!r})")
    assert wrong == [], "\n".join(wrong)
    # every message on stderr is one line: 'dfrec: ...' or an indented 'PATH: reason'
    for line in r.stderr.splitlines():
        assert line.startswith(("dfrec: ", "  ")), line
    for folder, _result, problems in ResultStore(out).results():
        assert problems == [], (folder, problems)
    notes = [e for e in summary["results"] if Path(e["input"]).name in ("animated.gif", "two pages.tiff")]
    assert len(notes) == 2
    for e in notes:
        result = strict_json((out / e["folder"] / "result.json").read_text())
        assert "only the first was analysed" in result["notes"][0]
    print(f"\ncorpus: {len(cases)} cases; results {len(done)}, failed {len(failed)}, ignored {len(ignored)}, "
          f"native crashes {r.stderr.count('crashed')}, raw messages {len(raw_lines(r.stderr))}")


def test_corpus_through_faces(corpus, tmp_path, capsys):
    d, cases = corpus
    rc = main(["faces", str(d), "-o", str(tmp_path / "crops"), "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert not raw_lines(cap.err) and "crashed" not in cap.err
    summary = strict_json(cap.out)
    images_ok = [c for c in cases if c.expect == "ok" and not c.name.endswith(".avi")]
    assert len(summary["processed"]) >= len(images_ok)
    for s in summary["skipped"]:
        assert "\n" not in s["error"] and not raw_lines(s["error"]), s
    # the output folder is never read back as input
    rc = main(["faces", str(d), str(tmp_path / "crops"), "-o", str(tmp_path / "crops"), "--json"])
    again = strict_json(capsys.readouterr().out)
    assert len(again["processed"]) == len(summary["processed"])


@pytest.mark.parametrize("name", ["thin_1x4000.png", "thin_8x2000.png", "thin_1x1.png", "pipe.png", "device.png",
                                  "empty.png", "bomb.png", "dangling.jpg", "new\nline.png"])
def test_single_bad_file_one_line(corpus, name, tmp_path, capsys):
    d, cases = corpus
    for argv in (["verify", str(d / name), str(d / "good.png")], ["faces", str(d / name), "-o", str(tmp_path / "f")]):
        rc = main(argv)
        err = capsys.readouterr().err
        expected = 0 if name == "new\nline.png" else 2
        assert rc == expected, (argv, err)
        if expected:
            (line,) = err.strip().splitlines()
            assert line.startswith("dfrec: error: ") and not raw_lines(line)
