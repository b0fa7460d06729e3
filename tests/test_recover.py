"""The Recoverer API (detection -> alignment -> model -> identity -> paste back), video sampling
and face tracking. Uses a tiny randomly initialised checkpoint written in the test."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from dfrec.errors import CheckpointError, InputError
from dfrec.results import paste_faces, verdict
from dfrec.video import FaceTracker, box_iou, sample_frames, video_info
from needs import need_module


def _dlib_face(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first face of dlib's own HOG detector (one upsampling) and its 68 landmarks:
    box (4,) x0, y0, x1, y1 and (68, 2), the independent reference for dfrec's detection."""
    import face_recognition_models as frm

    dlib = need_module("dlib")
    rects = dlib.get_frontal_face_detector()(image, 1)
    assert len(rects) >= 1
    r = rects[0]
    shape = dlib.shape_predictor(frm.pose_predictor_model_location())(image, r)
    lm = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    return np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64), lm


@pytest.fixture(scope="module")
def recoverer(tiny_checkpoint):
    from dfrec.recover import Recoverer

    return Recoverer.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def astro_recovery(recoverer, astronaut):
    return recoverer.recover(astronaut, max_faces=1)  # dlib also reports a weak false face on the suit


def test_recover_outputs_shapes_ranges_and_consistency(recoverer, astronaut, astro_recovery):
    from dfrec.faces import align_face
    from dfrec.faces.identity import idsim

    assert len(astro_recovery) == 1
    f = astro_recovery[0]
    for name in ("forgery", "source", "target"):
        img = getattr(f, name)
        assert img.shape == (224, 224, 3) and img.dtype == np.uint8
    assert f.map.shape == (224, 224) and f.map.dtype == np.float32
    assert 0.0 <= f.map.min() and f.map.max() <= 1.0
    assert 0.0 <= f.score_fake <= 1.0
    # the forgery crop is exactly the alignment of the detected landmarks
    np.testing.assert_array_equal(f.forgery, align_face(astronaut, f.landmarks, size=224).image)
    # the score is the sigmoid of the model's logit on that crop (same masking seed)
    x = torch.from_numpy(f.forgery).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        out = recoverer.model(x, generator=torch.Generator().manual_seed(recoverer.seed))
    assert f.score_fake == pytest.approx(torch.sigmoid(out["logit"])[0].item(), abs=1e-5)
    np.testing.assert_allclose(f.target, (out["target"][0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy(), atol=1)
    # identity: 128-d embeddings, IDSim and L2 computed from them
    for k in ("forgery", "source", "target"):
        assert f.embeddings[k].shape == (128,) and np.isfinite(f.embeddings[k]).all()
    assert f.idsim == pytest.approx(float(idsim(torch.from_numpy(f.embeddings["forgery"]),
                                                torch.from_numpy(f.embeddings["target"]))), abs=1e-5)
    assert f.l2 == pytest.approx(float(np.linalg.norm(f.embeddings["forgery"] - f.embeddings["target"])), abs=1e-5)
    # box and landmarks in image pixels: the face dlib's own HOG detector and shape predictor find
    box, lm = _dlib_face(astronaut)
    assert box_iou(f.box, box)[0, 0] > 0.9
    assert np.abs(f.landmarks - lm).max() < 2.0


def test_paste_back_keeps_frame_and_touches_only_the_face(astronaut, astro_recovery):
    f = astro_recovery[0]
    for frame in (f.source_frame, f.target_frame):
        assert frame.shape == astronaut.shape and frame.dtype == np.uint8
        changed = np.abs(frame.astype(int) - astronaut.astype(int)).max(axis=2) > 0
        assert changed.any()
        ys, xs = np.nonzero(changed)
        # the footprint of the aligned crop around the face box, not the whole picture
        w = f.box[2] - f.box[0]
        assert xs.min() > f.box[0] - 2 * w and xs.max() < f.box[2] + 2 * w
        assert changed.mean() < 0.5


def test_helpers_and_serialisation(astro_recovery):
    import dataclasses

    f = astro_recovery[0]
    assert f.to_pil("target").size == (224, 224) and f.to_pil("map").mode == "L"
    assert f.to_pil("target_frame").size == (512, 512)
    assert f.overlay().shape == (224, 224, 3)
    d = json.loads(json.dumps(f.to_dict()))
    assert d["score_fake"] == pytest.approx(f.score_fake, abs=1e-6) and len(d["landmarks"]) == 68
    # the verdict follows the score: >= 0.5 is "fake" (docs/recover.md), on both sides of the line
    for score, want in ((0.0, "real"), (0.4999, "real"), (0.5, "fake"), (0.93, "fake"), (f.score_fake, None)):
        g = dataclasses.replace(f, score_fake=score)
        want = want or ("fake" if score >= 0.5 else "real")
        assert g.to_dict()["verdict"] == want == verdict(score) and g.is_fake == (want == "fake"), score
    with pytest.raises(KeyError):
        f.to_pil("nope")


def test_recover_is_reproducible(recoverer, astronaut, astro_recovery):
    again = recoverer.recover(astronaut, max_faces=1, paste=False)
    np.testing.assert_array_equal(again[0].target, astro_recovery[0].target)
    assert again[0].score_fake == astro_recovery[0].score_fake and again[0].source_frame is None


def test_two_faces_largest_first_batched(recoverer, astronaut, fixture_dir):
    from dfrec.io import read_image

    obama = cv2.resize(read_image(fixture_dir / "obama.jpg"), (205, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + 205, 3), 128, np.uint8)
    canvas[:, :512] = astronaut
    canvas[128:384, 512:] = obama
    faces = recoverer.recover(canvas, paste=False)
    assert len(faces) >= 2
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in (f.box for f in faces)]
    assert areas == sorted(areas, reverse=True) and [f.index for f in faces] == list(range(len(faces)))
    # the astronaut's face (where dlib finds it on the astronaut alone), then Obama's on the right
    assert box_iou(faces[0].box, _dlib_face(astronaut)[0])[0, 0] > 0.9
    assert any(f.box[0] > 500 for f in faces)
    assert len(recoverer.recover(canvas, max_faces=1, paste=False)) == 1
    faces = faces[:2]
    both = paste_faces(canvas, faces, "target")
    assert both.shape == canvas.shape
    for f in faces:  # each face region changed
        x0, y0, x1, y1 = f.box.astype(int)
        assert np.abs(both[y0:y1, x0:x1].astype(int) - canvas[y0:y1, x0:x1].astype(int)).mean() > 1
    # recover_image: the faces of recover(), and every recovered face pasted into one picture
    two = recoverer.recover(canvas, max_faces=2, paste=False)
    image = recoverer.recover_image(canvas, max_faces=2)
    assert [f.box.tolist() for f in image.faces] == [f.box.tolist() for f in two]
    np.testing.assert_array_equal(image.target_frame, paste_faces(canvas, two, "target"))
    np.testing.assert_array_equal(image.source_frame, paste_faces(canvas, two, "source"))
    assert recoverer.recover_image(np.full((200, 300, 3), 127, np.uint8)).faces == []


def test_no_face_gives_empty_list(recoverer):
    assert recoverer.recover(np.full((200, 300, 3), 127, np.uint8)) == []


def test_unreadable_input_raises_input_error(recoverer, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(InputError):
        recoverer.recover(bad)


def test_missing_default_model_says_so(monkeypatch, tmp_path):
    import dfrec.recover as rec

    monkeypatch.setattr(rec, "DEFAULT_CHECKPOINT", tmp_path / "weights" / "default")
    with pytest.raises(CheckpointError, match="bundled default model"):
        rec.Recoverer.from_pretrained()
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        rec.Recoverer.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a dfrec checkpoint"):
        rec.Recoverer.from_pretrained(tmp_path / "empty")


# ---------------------------------------------------------------------------- video


def write_video(path, frames, fps=10.0):
    """Write RGB frames with OpenCV (MJPG in .avi, mp4v in .mp4)."""
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if str(path).endswith(".avi") else "mp4v"))
    vw = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def test_sample_frames_at_requested_rate(tmp_path):
    frames = [np.full((48, 64, 3), 10 * i, np.uint8) for i in range(25)]
    p = write_video(tmp_path / "v.avi", frames, fps=10)
    info = video_info(p)
    assert info.fps == pytest.approx(10) and info.frame_count == 25 and (info.width, info.height) == (64, 48)
    got = list(sample_frames(p, fps=2))
    assert [f.index for f in got] == [0, 5, 10, 15, 20]
    assert [f.time for f in got] == pytest.approx([0, 0.5, 1.0, 1.5, 2.0])
    assert abs(int(got[2].image.mean()) - 100) <= 3  # the right frame was decoded
    assert len(list(sample_frames(p, fps=0))) == 25
    assert len(list(sample_frames(p, fps=0, max_frames=3))) == 3


def test_sample_frames_rejects_non_video(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError):
        list(sample_frames(p))


def test_tracker_links_overlapping_boxes():
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0] == pytest.approx(50 / 150)
    t = FaceTracker(iou_threshold=0.3, max_missed=1)
    a, b = [0, 0, 10, 10], [50, 50, 60, 60]
    assert t.update([a, b]) == [0, 1]
    assert t.update([[51, 50, 61, 60], [1, 0, 11, 10]]) == [1, 0]  # order-independent
    assert t.update([[1, 1, 11, 11]]) == [0]  # track 1 missed once: still alive
    assert t.update([[1, 1, 11, 11], [50, 50, 60, 60]]) == [0, 1]
    t.update([]), t.update([])
    assert t.update([[1, 1, 11, 11]]) == [2]  # gone too long: a new track


def test_recover_video_aggregates_per_track(recoverer, fixture_dir, tmp_path):
    from dfrec.io import read_image

    small = cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)
    frames = [np.roll(small, 3 * i, axis=1) for i in range(4)]
    p = write_video(tmp_path / "face.avi", frames, fps=4)
    video = recoverer.recover_video(p, fps=0)
    assert video.frames_sampled == 4 and video.frames_with_faces == 4
    assert len(video.tracks) == 1
    tr = video.tracks[0]
    assert [f["frame"] for f in tr.frames] == [0, 1, 2, 3]
    assert tr.score_fake == pytest.approx(np.mean([f["score_fake"] for f in tr.frames]))
    assert tr.face.target_frame.shape == (260, 208, 3)
    d = tr.to_dict()
    assert d["n_frames"] == 4 and d["score_fake_min"] <= d["score_fake"] <= d["score_fake_max"]


# ---------------------------------------------------------------------------- reports from the API


def test_model_info_records_the_models_this_recoverer_uses(recoverer, tiny_checkpoint):
    """Recoverer.model_info(): the checkpoint's files and dlib's files with their SHA-256; what the
    CLI records for the same recoverer (model_record with the default dlib files)."""
    import hashlib

    from dfrec.faces.detect import FaceDetector
    from dfrec.faces.worker import IsolatedDetector
    from dfrec.recover import Recoverer
    from dfrec.report.provenance import model_record

    info = recoverer.model_info()
    assert info == model_record(recoverer.checkpoint, recoverer.model_config)
    assert {f["path"]: f["sha256"] for f in info["files"]} == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tiny_checkpoint.iterdir()}
    assert [f["role"] for f in info["dlib_files"]] == ["landmarks", "face_detector_cnn", "identity"]
    # the CLI's worker-process detector wraps the same FaceDetector: same files
    wrapped = Recoverer(recoverer.model, device="cpu", checkpoint=tiny_checkpoint,
                        detector=IsolatedDetector(FaceDetector()))
    assert wrapped.model_info()["dlib_files"] == info["dlib_files"]
    # a HOG-only detector never loads the CNN; an identity network passed in has no file to hash
    hog = Recoverer(recoverer.model, device="cpu", checkpoint=tiny_checkpoint, identity=recoverer.identity.encoder,
                    detector=FaceDetector(detectors=("hog",), verify_below=0))
    files = hog.model_info()["dlib_files"]
    assert [f["role"] for f in files] == ["landmarks", "identity"]
    assert files[1]["path"] is None and "sha256" not in files[1] and files[1]["note"]


def test_report_of_two_faces_shows_where_each_face_is(recoverer, astronaut, fixture_dir, tmp_path):
    """write_image_report with Recoverer.model_info(): faces_found.jpg boxes each face at its place in
    its verdict's colour, is listed and hashed in outputs, and the folder holds exactly what result.json lists."""
    from dfrec.io import read_image, write_image
    from dfrec.report.overview import COLORS
    from dfrec.report.store import verify_folder
    from dfrec.report.writer import write_image_report

    obama = cv2.resize(read_image(fixture_dir / "obama.jpg"), (205, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + 205, 3), 128, np.uint8)
    canvas[:, :512] = astronaut
    canvas[128:384, 512:] = obama
    src = write_image(tmp_path / "two.png", canvas)
    image = recoverer.recover_image(canvas, max_faces=2)
    out = tmp_path / "report"
    result = write_image_report(out, src, image, {"device": "cpu", "seed": recoverer.seed}, recoverer.model_info())
    assert len(result["faces"]) == 2 and verify_folder(out) == []
    assert {o["path"] for o in result["outputs"]} == {p.name for p in out.iterdir()} - {"result.json"}
    assert result["overview"]["file"] == "faces_found.jpg" and "faces_found.jpg" in {o["path"] for o in result["outputs"]}
    pic = read_image(out / "faces_found.jpg")
    assert pic.shape == canvas.shape  # under 800 px: not scaled
    for face in result["faces"]:
        x0, y0, x1, y1 = (int(round(v)) for v in face["box"])
        edge = pic[(y0 + y1) // 2, max(x0, 0) - 1:max(x0, 0) + 2].astype(int)  # the box's left edge, mid-height
        assert np.abs(edge - COLORS[face["verdict"]]).max(axis=1).min() < 60, face["label"]
    assert result["model"]["dlib_files"] and result["environment"]["torch_threads"] == torch.get_num_threads()


def test_report_reads_and_checks_content_credentials(recoverer, fixture_dir, tmp_path, c2pa_signer):
    """A photo whose C2PA manifest declares a generative model: result.json's
    ``input.content_credentials``, a note at the top of report.html, and a provenance row; the same
    photo re-saved without them: none, and no note."""
    from c2pa_signing import sign

    from dfrec.io import read_image
    from dfrec.report.writer import write_image_report

    signed = tmp_path / "generated.jpg"
    signed.write_bytes(sign(c2pa_signer, (fixture_dir / "obama.jpg").read_bytes(), "image/jpeg",
                            "trainedAlgorithmicMedia"))
    image = recoverer.recover_image(read_image(signed))
    result = write_image_report(tmp_path / "signed", signed, image, {"device": "cpu"}, recoverer.model_info())
    cc = result["input"]["content_credentials"]
    assert cc["validation"] == "valid" and cc["generated"] and cc["claim_generator"] == "dfrec-tests 1.0"
    assert any(n.startswith("The file's Content Credentials (C2PA) declare that it was made by a generative model")
               for n in result["notes"])
    page = " ".join((tmp_path / "signed" / "report.html").read_text().split())
    assert "<b>Note.</b> The file&#x27;s Content Credentials (C2PA) declare" in page
    assert "<th>Content Credentials (C2PA)</th><td>signed by dfrec tests, written by dfrec-tests 1.0" in page
    plain = write_image_report(tmp_path / "plain", fixture_dir / "obama.jpg", image, {"device": "cpu"},
                               recoverer.model_info())
    assert plain["input"]["content_credentials"] is None and "notes" not in plain
    assert "<th>Content Credentials (C2PA)</th><td>none in the file" in (tmp_path / "plain" / "report.html").read_text()


def test_documented_report_snippet_runs(tmp_path, monkeypatch):
    """The docs/recover.md block that writes a report from the API runs as written."""
    import re
    from pathlib import Path

    from dfrec.report.store import verify_folder

    root = Path(__file__).resolve().parents[1]
    blocks = re.findall(r"^```python\n(.*?)^```", (root / "docs" / "recover.md").read_text(encoding="utf-8"), re.S | re.M)
    code = next(b for b in blocks if "write_image_report(" in b and "model_info=r.model_info()" in b)
    (tmp_path / "examples").symlink_to(root / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "__docs__"}
    exec(compile(code, "docs/recover.md", "exec"), scope)
    folder = tmp_path / "report_forgery"
    assert verify_folder(folder) == []
    result = scope["result"]
    assert result["faces"] and {"faces_found.jpg", "report.html"} <= {o["path"] for o in result["outputs"]}
    assert [f["role"] for f in result["model"]["dlib_files"]] == ["landmarks", "face_detector_cnn", "identity"]


def test_video_report_names_the_worst_frame(recoverer, fixture_dir, tmp_path):
    """result.json's track names the frame of its highest fake score; report.html's first card shows that
    score beside the track mean, and summary.json keeps it (a swap in a few frames barely moves the mean)."""
    from dfrec.io import read_image
    from dfrec.report.store import verify_folder
    from dfrec.report.summary import summary_entry
    from dfrec.report.writer import write_video_report

    small = cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)
    p = write_video(tmp_path / "face.avi", [np.roll(small, 3 * i, axis=1) for i in range(4)], fps=4)
    video = recoverer.recover_video(p, fps=0)
    result = write_video_report(tmp_path / "out" / "face", p, video, {"device": "cpu"}, recoverer.model_info())
    assert verify_folder(tmp_path / "out" / "face") == []
    assert result["overview"]["tracks"] == [1] and result["overview"]["frame"] == 0
    track = result["faces"][0]
    worst = max(track["frames"], key=lambda f: f["score_fake"])
    assert (track["score_fake_max_frame"], track["score_fake_max_time"]) == (worst["frame"], worst["time"])
    assert track["score_fake_max"] == pytest.approx(worst["score_fake"])
    page = (tmp_path / "out" / "face" / "report.html").read_text()
    head = page[:page.index("Read this first")]
    assert f"{track['score_fake']:.3f}" in head and "Worst single frame" in head
    assert f"{worst['score_fake']:.3f}" in head and f"frame #{worst['frame']} at {worst['time']:.2f} s" in head
    entry = summary_entry(tmp_path / "out", tmp_path / "out" / "face", result)
    assert entry["max_score_fake_frame"] == pytest.approx(worst["score_fake"])


@pytest.mark.parametrize("codec, suffix", [("h264", ".mp4"), ("hevc", ".mp4"), ("h264", ".ts"), ("hevc", ".m2ts")])
def test_video_report_reads_its_quantiser_and_gives_the_caveat(recoverer, fixture_dir, tmp_path, codec, suffix):
    """An H.264 or HEVC MP4's or transport stream's report records the quantiser its slice headers
    state and the CRF its encoder (x264, x265) wrote into the stream (result.json's
    ``input.video_encoding``, report.html's provenance) and gives its track the <codec>_compressed
    caveat the measurement calls for at that CRF."""
    from repo_scripts import load_script

    from dfrec.io import read_image
    from dfrec.report.writer import write_video_report
    from dfrec.encoder_settings import software_encoder_note
    from dfrec.results import CRF_ENCODERS, LOSSY_CODECS, compression_caveat

    need_module("av")
    clips = load_script("benchmarks/video_clip.py")
    small = cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)
    p = tmp_path / f"face{suffix}"
    clips.encode_clip(p, [np.roll(small, 3 * i, axis=1) for i in range(4)], {"crf": "40"}, fps=4,
                      codec=clips.ENCODERS[codec])
    video = recoverer.recover_video(p, fps=0)
    result = write_video_report(tmp_path / "out" / "face", p, video, {"device": "cpu"}, recoverer.model_info())
    enc = result["input"]["video_encoding"]
    assert enc["codec"] == codec and enc["frames_read"] == 4 and enc["qp"] >= 25
    encoder = CRF_ENCODERS[codec]
    assert enc["encoder"]["name"] == encoder and enc["encoder"]["crf"] == 40
    expected = compression_caveat(codec, 40, f"{encoder}_crf")
    assert expected is not None and f"by {encoder} at CRF 40 " in expected["message"]  # FaceForensics++'s "c40"
    assert expected in result["faces"][0]["caveats"]
    page = " ".join((tmp_path / "out" / "face" / "report.html").read_text().split())
    assert f"{LOSSY_CODECS[codec]} by {encoder} " in page and " at CRF 40 (its settings, written into the stream)" in page
    assert f"a median quantiser (QP) of {enc['qp']:g} over 4 of its frames" in page
    assert result["notes"] == [software_encoder_note(enc["encoder"], result["input"]["metadata"])]
    assert f"The video stream was encoded by {encoder}, a software encoder" in page  # made by software, not a phone
    meta = result["input"]["metadata"]  # what the container says made it: FFmpeg's muxer in an MP4, none in a TS
    if suffix == ".mp4":
        assert meta["Encoder"].startswith("Lavf") and f"Encoder: <code>{meta['Encoder']}</code>" in page
    else:
        assert meta == {} and "the muxer&#x27;s and the phone&#x27;s tags are often stripped" in page


def test_vp9_video_report_reads_its_quantiser_and_gives_the_caveat(recoverer, fixture_dir, tmp_path):
    """A VP9 WebM's report records the base_q_idx its frame headers state (libvpx at quantiser 50:
    index 200) and gives its track the vp9_compressed caveat the measurement calls for there."""
    from repo_scripts import load_script

    from dfrec.io import read_image
    from dfrec.report.writer import write_video_report
    from dfrec.results import compression_caveat

    need_module("av")
    small = cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)
    p = tmp_path / "face.webm"
    load_script("benchmarks/video_clip.py").encode_clip(
        p, [np.roll(small, 3 * i, axis=1) for i in range(4)], {"qmin": "50", "qmax": "50", "b": "1M", "cpu-used": "8"},
        fps=4, codec="libvpx-vp9")
    video = recoverer.recover_video(p, fps=0)
    result = write_video_report(tmp_path / "out" / "face", p, video, {"device": "cpu"}, recoverer.model_info())
    enc = result["input"]["video_encoding"]
    assert enc["codec"] == "vp9" and enc["qp"] == 200 and enc["frames_read"] == 4 and enc["quantiser"] == "base_q_idx"
    expected = compression_caveat("vp9", 200)
    assert expected is not None and "a quantiser index (base_q_idx) of 200" in expected["message"]
    assert expected in result["faces"][0]["caveats"]
    page = " ".join((tmp_path / "out" / "face" / "report.html").read_text().split())
    assert "VP9, Profile 0, a median quantiser (base_q_idx) of 200 over 4 coded frames&#x27; headers; 0-255" in page


def test_av1_video_report_reads_its_quantiser_and_gives_the_caveat(recoverer, fixture_dir, tmp_path):
    """An AV1 MP4's report records the base_q_idx its frame headers state (SVT-AV1 at a constant qp
    of 50: index 200) and gives its track the av1_compressed caveat the measurement calls for there."""
    from repo_scripts import load_script

    from dfrec.io import read_image
    from dfrec.report.writer import write_video_report
    from dfrec.results import compression_caveat

    need_module("av")
    small = cv2.resize(read_image(fixture_dir / "obama.jpg"), (208, 260), interpolation=cv2.INTER_AREA)
    p = tmp_path / "face.mp4"
    load_script("benchmarks/video_clip.py").encode_clip(
        p, [np.roll(small, 3 * i, axis=1) for i in range(4)],
        {"qp": "50", "preset": "10", "svtav1-params": "rc=0:use-fixed-qindex-offsets=1"}, fps=4, codec="libsvtav1")
    video = recoverer.recover_video(p, fps=0)
    result = write_video_report(tmp_path / "out" / "face", p, video, {"device": "cpu"}, recoverer.model_info())
    enc = result["input"]["video_encoding"]
    assert enc["codec"] == "av1" and enc["qp"] == 200 and enc["frames_read"] >= 4 and enc["quantiser"] == "base_q_idx"
    expected = compression_caveat("av1", 200)
    assert expected is not None and "a quantiser index (base_q_idx) of 200" in expected["message"]
    assert expected in result["faces"][0]["caveats"]
    page = " ".join((tmp_path / "out" / "face" / "report.html").read_text().split())
    assert "AV1, Main profile, a median quantiser (base_q_idx) of 200 over" in page


def test_video_report_numbers_the_tracks_in_the_busiest_frame(recoverer, astronaut, fixture_dir, tmp_path):
    """A video's faces_found.jpg is the sampled frame with the most faces, each face tagged with its
    track's number in its track's verdict colour; the caption says which frame and which tracks."""
    from dfrec.io import read_image
    from dfrec.report.overview import COLORS
    from dfrec.report.store import verify_folder
    from dfrec.report.writer import write_video_report

    obama = cv2.resize(read_image(fixture_dir / "obama.jpg"), (205, 256), interpolation=cv2.INTER_AREA)
    alone = np.full((512, 512 + 206, 3), 128, np.uint8)  # even width: the codec's
    alone[:, :512] = astronaut
    both = alone.copy()
    both[128:384, 512:717] = obama
    p = write_video(tmp_path / "two.avi", [alone, both, both], fps=4)
    video = recoverer.recover_video(p, fps=0, max_faces=2)
    assert video.busiest_frame_index == 1 and video.busiest_frame.shape == both.shape
    assert [len(t.frames) for t in video.tracks] == [3, 2]
    out = tmp_path / "report"
    result = write_video_report(out, p, video, {"device": "cpu"}, recoverer.model_info())
    assert verify_folder(out) == []
    ov = result["overview"]
    assert (ov["file"], ov["frame"], ov["tracks"]) == ("faces_found.jpg", 1, [1, 2])
    assert ov["caption"].startswith("Frame #1 at 0.25 s") and "tracks 1, 2" in ov["caption"]
    pic = read_image(out / "faces_found.jpg")
    assert pic.shape == both.shape
    for track in result["faces"]:
        box = next(f["box"] for f in track["frames"] if f["frame"] == 1)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        edge = pic[(y0 + y1) // 2, max(x0, 0) - 1:max(x0, 0) + 2].astype(int)
        assert np.abs(edge - COLORS[track["verdict"]]).max(axis=1).min() < 60, track["label"]
    page = (out / "report.html").read_text()
    assert "faces_found.jpg" in page and "Frame #1 at 0.25 s" in page and "mean fake score over its frames" in page


def test_a_composing_model_keeps_what_pasting_its_faces_needs(tmp_path, astronaut):
    """With ``compose`` the recovered target is the TIRM's output inside the map and the forgery
    outside: the face carries both parts, the target is their blend, and the pasted frame is
    composed from them (paste_faces), not from the whole crop. The source frame pastes the
    source by the region the SIRM saw."""
    from dfrec.faces import paste_back
    from dfrec.models import create_model
    from dfrec.recover import Recoverer

    torch.manual_seed(1)
    create_model("tiny", pretrained_init=False, compose=True, compose_dilate=2).save_pretrained(tmp_path / "m")
    rec = Recoverer.from_pretrained(tmp_path / "m", device="cpu")
    f = rec.recover(astronaut, max_faces=1)[0]
    assert f.target_raw.shape == (224, 224, 3) and f.target_raw.dtype == np.uint8
    assert f.target_weight.shape == (224, 224) and 0 <= f.target_weight.min() and f.target_weight.max() <= 1
    # blend_weight dilates and feathers the map: the weight is not the map itself here
    assert not np.allclose(f.target_weight, f.map)
    w = f.target_weight[..., None]
    composite = w * f.target_raw.astype(np.float32) + (1 - w) * f.forgery.astype(np.float32)
    assert np.abs(composite - f.target.astype(np.float32)).max() <= 1.0
    expect = paste_back(astronaut, f.target_raw, f.matrix, mask=f.target_weight)  # the default feather
    np.testing.assert_array_equal(f.target_frame, expect)
    # the source goes back by the region the SIRM saw (the map dilated by sirm_dilate), not whole
    with torch.inference_mode():
        seen = rec.model.sirm_weight(torch.from_numpy(f.map)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(f.source_weight, seen, atol=1e-6)
    np.testing.assert_array_equal(f.source_frame, paste_back(astronaut, f.source, f.matrix, mask=f.source_weight))
    # the plain tiny model repaints the whole crop: nothing to compose with
    plain = Recoverer.from_pretrained(tmp_path / "m", device="cpu")
    plain.model.config.compose = False
    g = plain.recover(astronaut, max_faces=1)[0]
    assert g.target_raw is None and g.target_weight is None and g.source_weight is not None
