"""``dfrec recover`` end to end: folders with bad files, all-bad runs, videos, report integrity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dfrec.cli.main import main
from dfrec.io import read_image, write_image
from dfrec.report.html import external_urls


@pytest.fixture(scope="module")
def face_image(fixture_dir) -> np.ndarray:
    """A small photo with one face (Obama, public domain), (260, 208, 3) uint8."""
    return cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def run_cli(*args: str) -> int:
    return main(["recover", *map(str, args), "--device", "cpu", "--no-progress"])


def test_folder_with_bad_files(tmp_path, tiny_checkpoint, face_image, capsys):
    inp = tmp_path / "in"
    (inp / "sub").mkdir(parents=True)
    write_image(inp / "sub" / "good.png", face_image)
    (inp / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 200)
    write_image(inp / "noface.png", np.full((120, 160, 3), 90, np.uint8))
    (inp / "notes.txt").write_text("not media: ignored")
    out = tmp_path / "out"
    rc = run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint)
    err = capsys.readouterr().err
    assert rc == 0
    assert "2 input(s) could not be processed" in err
    assert "corrupt.jpg" in err and "noface.png: no face found (in this 160x120 picture faces under about 20 px" in err

    summary = json.loads((out / "summary.json").read_text())
    assert summary["processed"] == 1 and summary["failed_count"] == 2
    folder = out / summary["results"][0]["folder"]
    assert folder == out / "in" / "sub" / "good"
    assert (out / "summary.html").is_file() and external_urls((out / "summary.html").read_text()) == []

    # report.html: self-contained
    page = (folder / "report.html").read_text()
    assert external_urls(page) == [] and "data:image/png;base64," in page
    # result.json: input, every output file and every model file hashed correctly
    result = json.loads((folder / "result.json").read_text())
    assert result["input"]["sha256"] == sha(inp / "sub" / "good.png")
    listed = {o["path"]: o for o in result["outputs"]}
    on_disk = {p.name for p in folder.iterdir() if p.name != "result.json"}
    assert set(listed) == on_disk
    for name, rec in listed.items():
        assert rec["sha256"] == sha(folder / name) and rec["bytes"] == (folder / name).stat().st_size
    assert {"face1_forgery.png", "face1_source.png", "face1_target.png", "face1_map.png", "face1_overlay.png",
            "frame_source.png", "frame_target.png", "report.html"} <= on_disk
    model_files = {f["path"]: f["sha256"] for f in result["model"]["files"]}
    assert model_files == {p.name: sha(p) for p in tiny_checkpoint.iterdir()}
    assert result["model"]["config"]["preset"] == "tiny"
    assert result["dfrec_version"] and result["created_utc"].endswith("Z")
    assert result["settings"]["device"] == "cpu" and result["environment"]["torch"] == torch.__version__
    assert result["settings"]["crop_enlarge"] == "lanczos4"  # how a small face was enlarged to the crop
    assert result["settings"]["paste_interpolation"] == "lanczos4"  # how the recovered crops went back
    face = result["faces"][0]
    assert 0 <= face["score_fake"] <= 1 and face["files"]["target"] == "face1_target.png"
    frame = read_image(folder / "frame_target.png")
    assert frame.shape == face_image.shape


def test_a_jpeg_says_its_quality_and_where_it_weakens_the_score(tmp_path, tiny_checkpoint, face_image, capsys):
    """A picture last saved as JPEG at quality 75 (the web's commonest): its quality is in
    result.json and the report, and each face carries the jpeg_compressed caveat, also on the
    console; at quality 95 the quality is recorded and no caveat is given."""
    from PIL import Image

    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(face_image).save(inp / "web.jpg", quality=75)
    Image.fromarray(face_image).save(inp / "camera.jpg", quality=95)
    Image.open(inp / "web.jpg").save(inp / "twice.jpg", quality=95)  # 75, then 95: the 75's blocks remain
    out = tmp_path / "out"
    assert run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint) == 0
    console = capsys.readouterr().out
    web = json.loads((out / "in" / "web" / "result.json").read_text())
    camera = json.loads((out / "in" / "camera" / "result.json").read_text())
    assert web["input"]["jpeg_quality"] == {"quality": 75, "standard_tables": True}
    assert camera["input"]["jpeg_quality"] == {"quality": 95, "standard_tables": True}
    assert [c["code"] for c in web["faces"][0]["caveats"]] == ["jpeg_compressed"]
    assert camera["faces"][0]["caveats"] == []
    assert "saved as JPEG at about quality 75" in console and "quality 95" not in console
    page = (out / "in" / "web" / "report.html").read_text()
    assert "last saved at quality 75" in page and "Saved as JPEG at about quality 75" in page
    twice = json.loads((out / "in" / "twice" / "result.json").read_text())
    assert twice["input"]["jpeg_quality"]["quality"] == 95 and abs(twice["input"]["jpeg_history"]["quality"] - 75) <= 2
    assert [c["code"] for c in twice["faces"][0]["caveats"]] == ["jpeg_compressed"]
    assert "before its last save at a higher quality" in twice["faces"][0]["caveats"][0]["message"]
    assert "jpeg_history" not in camera["input"] and "jpeg_history" not in web["input"]  # one save: its own tables say it


def test_a_lossy_webp_or_a_png_of_a_jpeg_gets_its_caveat(tmp_path, tiny_checkpoint, face_image, capsys):
    """A picture last saved as lossy WebP at quality 50: result.json and the report say it was
    lossy and at about which quality, and each face carries the webp_compressed caveat; a lossless
    WebP is recorded as lossless and gets none. A PNG of a JPEG of quality 75 gets jpeg_compressed
    from the blocks its pixels still hold."""
    import io as _io

    from PIL import Image

    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(face_image).save(inp / "web.webp", quality=50)
    Image.fromarray(face_image).save(inp / "lossless.webp", lossless=True)
    buf = _io.BytesIO()
    Image.fromarray(face_image).save(buf, "JPEG", quality=75)
    Image.open(buf).save(inp / "once_jpeg.png")
    out = tmp_path / "out"
    assert run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint) == 0
    console = capsys.readouterr().out
    web = json.loads((out / "in" / "web" / "result.json").read_text())
    lossless = json.loads((out / "in" / "lossless" / "result.json").read_text())
    enc = web["input"]["webp_encoding"]
    assert enc["lossless"] is False and abs(enc["quality"] - 50) <= 6
    assert lossless["input"]["webp_encoding"] == {"lossless": True}
    assert [c["code"] for c in web["faces"][0]["caveats"]] == ["webp_compressed"]
    assert lossless["faces"][0]["caveats"] == []
    assert f"saved as WebP at about quality {enc['quality']}" in console
    page = (out / "in" / "web" / "report.html").read_text()
    assert f"quality {enc['quality']}, from its VP8 quantisers" in page and "Saved as WebP" in page
    assert "(lossless)" in (out / "in" / "lossless" / "report.html").read_text()
    once = json.loads((out / "in" / "once_jpeg" / "result.json").read_text())
    assert abs(once["input"]["jpeg_history"]["quality"] - 75) <= 2 and "jpeg_quality" not in once["input"]
    assert [c["code"] for c in once["faces"][0]["caveats"]] == ["jpeg_compressed"]
    assert "before it became this file" in once["faces"][0]["caveats"][0]["message"]
    assert "jpeg_history" not in lossless["input"] and "8 × 8 blocks of an earlier JPEG save" in (
        out / "in" / "once_jpeg" / "report.html").read_text()


def test_a_heic_photo_records_its_qp_and_gets_its_caveat(tmp_path, tiny_checkpoint, face_image, capsys):
    """A HEIC photo (as iPhones save them) saved coarsely: result.json and the report give the QP its
    HEVC slice headers state, and each face carries the heic_compressed caveat the measurement calls for
    there; a fine save gets none."""
    from PIL import Image

    from dfrec.io import enable_heif
    from dfrec.results import compression_caveat

    if not enable_heif():
        pytest.skip("pillow-heif is not installed")
    inp = tmp_path / "in"
    inp.mkdir()
    Image.fromarray(face_image).save(inp / "coarse.heic", quality=10)
    Image.fromarray(face_image).save(inp / "fine.heic", quality=90)
    out = tmp_path / "out"
    assert run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint) == 0
    console = capsys.readouterr().out
    coarse = json.loads((out / "in" / "coarse" / "result.json").read_text())
    fine = json.loads((out / "in" / "fine" / "result.json").read_text())
    enc = coarse["input"]["heif_encoding"]
    assert enc["codec"] == "hevc" and enc["qp"] > fine["input"]["heif_encoding"]["qp"]
    assert compression_caveat("heic", enc["qp"]) is not None and compression_caveat("heic", fine["input"]["heif_encoding"]["qp"]) is None
    assert [c["code"] for c in coarse["faces"][0]["caveats"]] == ["heic_compressed"] and fine["faces"][0]["caveats"] == []
    assert f"saved as HEIC at a quantiser (QP) of {enc['qp']:g}" in console
    page = " ".join((out / "in" / "coarse" / "report.html").read_text().split())
    assert f"HEIF (HEVC, Main Still Picture profile, a quantiser (QP) of {enc['qp']:g}, from its slice header;" in page


def test_a_result_that_no_longer_stands_is_replaced_and_said(tmp_path, tiny_checkpoint, face_image, capsys):
    """An examiner hears when an earlier result is replaced: its files were changed since, or
    it was made from another picture of the same name; an up-to-date one is kept in silence."""
    inp, out = tmp_path / "a.png", tmp_path / "out"
    write_image(inp, face_image)
    assert run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint) == 0
    capsys.readouterr()
    assert run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint) == 0
    assert "replaced" not in capsys.readouterr().err  # already done
    with open(out / "a" / "face1_map.png", "ab") as f:
        f.write(b"tampered")
    assert run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert (f"dfrec: {out / 'a'}: replaced the result that was there: its files no longer match result.json "
            "(face1_map.png: size or SHA-256 differs from result.json)") in err, err
    write_image(inp, face_image[:, ::-1])  # another picture under the same name
    assert run_cli(inp, "-o", out, "--checkpoint", tiny_checkpoint) == 0
    err = capsys.readouterr().err
    assert f"dfrec: {out / 'a'}: replaced the result that was there: made from a different input (sha256 " in err, err
    result = json.loads((out / "a" / "result.json").read_text())
    assert result["input"]["sha256"] == sha(inp)


def test_one_file_reached_twice_is_analysed_once(tmp_path, tiny_checkpoint, face_image, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", face_image)
    (folder / "link.png").symlink_to(folder / "a.png")
    rc = main(["recover", str(folder), str(folder / "a.png"), "-o", str(tmp_path / "out"), "--device", "cpu",
               "--no-progress", "--checkpoint", str(tiny_checkpoint), "--json"])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert rc == 0 and summary["processed"] == 1 and len(summary["results"]) == 1
    assert sorted(Path(i["input"]).name for i in summary["ignored"]) == ["a.png", "link.png"]
    assert "2 item(s) in the input folders passed over (the same file as an input before it: 2;" in err


def test_all_bad_inputs_exit_non_zero(tmp_path, tiny_checkpoint, capsys):
    write_image(tmp_path / "noface.png", np.full((100, 100, 3), 200, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"garbage")
    rc = run_cli(tmp_path / "noface.png", tmp_path / "broken.png", tmp_path / "missing.jpg",
                 "-o", tmp_path / "out", "--checkpoint", tiny_checkpoint)
    err = capsys.readouterr().err
    assert rc != 0
    assert "nothing could be processed" in err and "3 input(s) could not be processed" in err
    assert "missing.jpg: no such file or folder" in err


def test_only_no_face_inputs_exit_with_no_face_code(tmp_path, tiny_checkpoint, capsys):
    write_image(tmp_path / "noface.png", np.full((100, 100, 3), 200, np.uint8))
    assert run_cli(tmp_path / "noface.png", "-o", tmp_path / "out", "--checkpoint", tiny_checkpoint) == 3


@pytest.mark.parametrize("kind, code, words", [("empty", 2, "empty file"), ("noface", 3, "no face"),
                                               ("missing", 2, "no such file")])
def test_one_bad_input_is_one_line(kind, code, words, tmp_path, tiny_checkpoint, capsys):
    """A single input that cannot be processed: its one `dfrec: error: PATH: reason` line on
    stderr, its exit code, nothing on stdout; the summary still records it."""
    path = tmp_path / f"{kind}.png"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "noface":
        write_image(path, np.full((100, 100, 3), 200, np.uint8))
    rc = run_cli(path, "-o", tmp_path / "out", "--checkpoint", tiny_checkpoint)
    out, err = capsys.readouterr()
    assert rc == code and out == ""
    assert err.count("\n") == 1 and err.startswith(f"dfrec: error: {path}: ") and words in err, err
    if kind != "missing":
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert [f["input"] for f in summary["failed"]] == [str(path)]


@pytest.mark.parametrize("device, words", [("bogus", "unknown device 'bogus'"), ("cuda:99", "cuda:99")])
def test_a_device_this_machine_lacks_is_an_argument_error(device, words, tmp_path, capsys):
    if device.startswith("cuda") and torch.cuda.device_count() > 99:
        pytest.skip("a machine with 100 GPUs")
    rc = main(["recover", str(tmp_path / "x.png"), "-o", str(tmp_path / "out"), "--device", device])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("dfrec: error: argument --device: ") and words in err, err
    assert "opengl" not in err and err.count("\n") == 1  # not torch's list of device types
    assert not (tmp_path / "out").exists()  # refused before any work


def test_video_tracks_and_json_summary(tmp_path, tiny_checkpoint, face_image, capsys):
    p = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, (208, 260))
    for i in range(6):
        vw.write(cv2.cvtColor(np.roll(face_image, 2 * i, axis=1), cv2.COLOR_RGB2BGR))
    vw.release()
    blank = tmp_path / "blank.avi"
    vw = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, (64, 64))
    for _ in range(3):
        vw.write(np.zeros((64, 64, 3), np.uint8))
    vw.release()
    out = tmp_path / "out"
    rc = run_cli(p, blank, "-o", out, "--checkpoint", tiny_checkpoint, "--fps", "2", "--json")
    cap = capsys.readouterr()
    assert rc == 0
    summary = json.loads(cap.out)  # stdout holds only the JSON summary
    assert summary["processed"] == 1 and summary["failed"][0]["input"].endswith("blank.avi")
    assert "no face found in any of the 2 sampled frames (in these 64x64 frames faces under about 20 px" \
        in summary["failed"][0]["reason"]
    result = json.loads((out / "clip" / "result.json").read_text())
    assert result["input"]["kind"] == "video" and result["input"]["frames_sampled"] == 3
    assert result["input"]["codec"] == "MJPG" and "codec MJPG" in (out / "clip" / "report.html").read_text()
    track = result["faces"][0]
    assert len(result["faces"]) == 1 and [f["frame"] for f in track["frames"]] == [0, 2, 4]
    assert track["score_fake"] == pytest.approx(np.mean([f["score_fake"] for f in track["frames"]]), abs=1e-5)
    assert (out / "clip" / "track1_target.png").is_file() and (out / "clip" / "track1_frame_target.png").is_file()
    page = (out / "clip" / "report.html").read_text()
    assert external_urls(page) == [] and page.count("<circle") == 3  # per-frame score chart


def test_broadcast_dvd_and_unnamed_videos_in_a_folder(tmp_path, tiny_checkpoint, face_image, capsys):
    """A folder as an investigator receives it: a DVD's program stream (``.mpg``) and a broadcast
    capture exported under its hash with no suffix. Both are analysed as videos; the transport
    stream's H.264 quantiser is read, the MPEG-2 stream's codec named."""
    from needs import need_module
    from repo_scripts import load_script

    need_module("av")
    clips = load_script("benchmarks/video_clip.py")
    frames = [np.roll(face_image, 2 * i, axis=1) for i in range(4)]
    (tmp_path / "case").mkdir()
    clips.encode_clip(tmp_path / "case" / "dvd.mpg", frames, {}, fps=4, codec="mpeg2video")
    clips.encode_clip(tmp_path / "capture.ts", frames, {"crf": "30"}, fps=4)
    (tmp_path / "case" / "9b2e41f07c").write_bytes((tmp_path / "capture.ts").read_bytes())
    out = tmp_path / "out"
    assert run_cli(tmp_path / "case", "-o", out, "--checkpoint", tiny_checkpoint, "--fps", "2", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["processed"] == 2 and summary["failed"] == []
    dvd = json.loads((out / "case" / "dvd" / "result.json").read_text())["input"]
    capture = json.loads((out / "case" / "9b2e41f07c" / "result.json").read_text())["input"]
    assert dvd["kind"] == capture["kind"] == "video" and dvd["frames_sampled"] == capture["frames_sampled"] == 2
    assert dvd["codec"] == "mpg2" and "video_encoding" not in dvd and dvd["container"] == "MPEG program stream video"
    assert capture["container"] == "MPEG transport stream video"
    page = (out / "case" / "9b2e41f07c" / "report.html").read_text()
    assert "MPEG transport stream video, codec h264 (H.264 by x264 " in page
    assert " at CRF 30 (its settings, written into the stream), High profile, a median quantiser (QP) of" in page
    assert capture["video_encoding"]["codec"] == "h264" and capture["video_encoding"]["frames_read"] == 4
    assert capture["video_encoding"]["encoder"]["crf"] == 30 and capture["metadata"] == {}
    # the console names what the report notes: the capture's stream came from software (x264), the DVD's says nothing
    assert run_cli(tmp_path / "case", "-o", out, "--checkpoint", tiny_checkpoint, "--fps", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if "9b2e41f07c" in line and "already done" in line)
    assert lines[at + 1].startswith("  note: The video stream was encoded by x264, a software encoder")
    dvd_at = next(i for i, line in enumerate(lines) if "dvd.mpg" in line)
    assert dvd_at + 1 == len(lines) or not lines[dvd_at + 1].startswith("  note:")


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch, face_image, capsys):
    import dfrec.recover as rec

    monkeypatch.setattr(rec, "DEFAULT_CHECKPOINT", tmp_path / "nowhere")
    write_image(tmp_path / "a.png", face_image)
    rc = run_cli(tmp_path / "a.png", "-o", tmp_path / "out")
    assert rc == 4 and "bundled default model is missing" in capsys.readouterr().err


def test_the_console_names_the_face_with_the_highest_score(tmp_path, tiny_checkpoint, face_image, capsys):
    """A picture of two faces: the console line names the face whose score is the highest, as
    report.html's headline does; a picture of one face names none."""
    write_image(tmp_path / "two.png", np.concatenate([face_image, np.ascontiguousarray(face_image[:, ::-1])], axis=1))
    out = tmp_path / "out"
    assert run_cli(tmp_path / "two.png", "-o", out, "--checkpoint", tiny_checkpoint) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(str(tmp_path / "two.png")))
    faces = json.loads((out / "two" / "result.json").read_text())["faces"]
    assert len(faces) == 2
    top = max(faces, key=lambda f: f["score_fake"])
    assert f"2 faces, highest fake score {top['score_fake']:.3f} (" in line and f", {top['label'].lower()})" in line
    assert f'href="#face-{faces.index(top) + 1}"' in (out / "two" / "report.html").read_text().split("analysed.", 1)[1][:600]
    assert run_cli(tmp_path / "two.png", "-o", tmp_path / "one", "--checkpoint", tiny_checkpoint, "--max-faces", "1") == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(str(tmp_path / "two.png")))
    assert "1 face, highest fake score" in line and ", face " not in line


def test_a_small_face_is_flagged_in_json_report_and_console(tmp_path, tiny_checkpoint, capsys):
    """The bundled example at its own size (a face as large as LFW's) gets no caveat; the same
    picture a third as large (eyes ~14 px apart) does, in result.json, report.html and the console."""
    example = read_image(Path(__file__).resolve().parents[2] / "examples" / "obama_on_biden" / "forgery.png")
    h, w = example.shape[:2]
    write_image(tmp_path / "in" / "full.png", example)
    write_image(tmp_path / "in" / "third.png", cv2.resize(example, (w // 3, h // 3), interpolation=cv2.INTER_AREA))
    out = tmp_path / "out"
    assert run_cli(tmp_path / "in", "-o", out, "--checkpoint", tiny_checkpoint) == 0
    printed = capsys.readouterr().out
    full = json.loads((out / "in" / "full" / "result.json").read_text())["faces"][0]
    third = json.loads((out / "in" / "third" / "result.json").read_text())["faces"][0]
    assert full["caveats"] == [] and 35 < full["eye_distance_px"] < 50 and 1.1 < full["crop_scale"] < 1.4
    assert [c["code"] for c in third["caveats"]] == ["small_face"] and third["eye_distance_px"] < 16
    assert third["crop_scale"] == pytest.approx(3 * full["crop_scale"], rel=0.1)
    page = (out / "in" / "third" / "report.html").read_text()
    assert "Less reliable here." in page and "Face size in the picture" in page
    assert "Less reliable here." not in (out / "in" / "full" / "report.html").read_text()
    assert printed.count("small face: its eyes are") == 1
    summary = json.loads((out / "summary.json").read_text())  # a batch's index says which inputs to read with care
    assert sorted(r["caveats"] for r in summary["results"]) == [[[]], [["small_face"]]]
    assert (out / "summary.html").read_text().count("1 less reliable: small face") == 1


def test_the_report_says_how_the_picture_was_read(tmp_path, tiny_checkpoint, face_image):
    """A transparent PNG tagged "rotate 90° counter-clockwise" by an app: result.json and
    report.html name the real format (content, not suffix), its mode, what reading it as RGB did
    and the software the file names."""
    from PIL import Image

    rgba = np.dstack([np.ascontiguousarray(np.rot90(face_image, -1)), np.full(face_image.shape[:2][::-1], 255, np.uint8)])
    rgba[:4, :4, 3] = 0  # a few transparent pixels
    exif = Image.Exif()
    exif[0x0112], exif[0x0131] = 8, "FaceApp 11.2"
    Image.fromarray(rgba).save(tmp_path / "photo.jpg", format="PNG", exif=exif.tobytes())  # a PNG named .jpg
    out = tmp_path / "out"
    assert run_cli(tmp_path / "photo.jpg", "-o", out, "--checkpoint", tiny_checkpoint) == 0
    inp = json.loads((out / "photo" / "result.json").read_text())["input"]
    assert (inp["format"], inp["mode"], inp["exif_orientation"], inp["frames_in_file"]) == ("PNG", "RGBA", 8, 1)
    assert (inp["width"], inp["height"]) == (face_image.shape[1], face_image.shape[0])  # as displayed
    words = "RGB with transparency: composited on white; EXIF orientation 8 applied (rotated 90° counter-clockwise)"
    assert inp["decoding"] == words
    assert inp["metadata"] == {"Software": "FaceApp 11.2"}
    page = (out / "photo" / "report.html").read_text()
    assert f"PNG; read as {words}" in page and "Software: <code>FaceApp 11.2</code>" in page
