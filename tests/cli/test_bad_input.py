"""Bad input through the CLI: one ``dfrec: error:`` line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfrec.cli.main import main
from needs import need_module

need_module("dlib")

ROOT = Path(__file__).resolve().parents[2]


def _png_header(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def _make(kind: str, tmp: Path, fixture_dir: Path) -> Path:
    if kind == "truncated":
        data = (fixture_dir / "obama.jpg").read_bytes()
        (tmp / "cut.jpg").write_bytes(data[: len(data) // 3])
        return tmp / "cut.jpg"
    if kind == "text":
        (tmp / "notes.jpg").write_text("hello, I am text\n")
        return tmp / "notes.jpg"
    if kind == "empty":
        (tmp / "empty.png").write_bytes(b"")
        return tmp / "empty.png"
    if kind == "huge":
        return _png_header(tmp / "huge.png", 50_000, 50_000)
    if kind == "noface":
        xx, yy = np.meshgrid(np.linspace(0, 255, 240), np.linspace(0, 255, 180))
        Image.fromarray(np.dstack([xx, yy, 255 - xx]).astype(np.uint8)).save(tmp / "gradient.png")
        return tmp / "gradient.png"
    if kind == "missing":
        return tmp / "does_not_exist.jpg"
    if kind == "folder_without_images":
        (tmp / "empty_dir").mkdir()
        return tmp / "empty_dir"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, code, words",
    [
        ("truncated", 2, "truncated"),
        ("text", 2, "not an image"),
        ("empty", 2, "empty file"),
        ("huge", 2, "pixels"),
        ("noface", 3, "no face"),
        ("missing", 2, "no such file"),
        ("folder_without_images", 2, "no input images"),
    ],
)
def test_faces_bad_input_one_line(kind, code, words, tmp_path, fixture_dir, capsys):
    path = _make(kind, tmp_path, fixture_dir)
    rc = main(["faces", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == code
    lines = [ln for ln in err.splitlines() if ln.startswith("dfrec: error:")]
    assert len(lines) == 1 and words in lines[0], err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not any((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True


def test_all_inputs_bad_exits_nonzero(tmp_path, fixture_dir, capsys):
    a, b = _make("text", tmp_path, fixture_dir), _make("empty", tmp_path, fixture_dir)
    assert main(["faces", str(a), str(b), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("dfrec: skipped ") == 2 and "none of the 2 inputs" in err and "Traceback" not in err


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_other_modes_are_processed(mode, tmp_path, fixture_dir, capsys):
    img = Image.open(fixture_dir / "obama.jpg").reduce(2)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257)
    else:
        img = img.convert(mode)
    img.save(tmp_path / "x.png")
    assert main(["faces", str(tmp_path / "x.png"), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "x_face0.png").exists()


def test_real_command_bad_input(tmp_path, fixture_dir):
    """The installed ``dfrec`` entry point: exit code and a single stderr line."""
    exe = Path(sys.executable).with_name("dfrec")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dfrec"]
    path = _make("truncated", tmp_path, fixture_dir)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    res = subprocess.run(cmd + ["faces", str(path), "-o", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("dfrec: error:")
    assert res.stdout == ""
