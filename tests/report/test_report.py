"""Reports: provenance hashes, self-contained HTML, summary index (no model needed)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import numpy as np
import pytest

from dfrec.io import write_image
from dfrec.report.html import INLINE_LIMIT, data_uri, external_urls, render_report, render_summary
from dfrec.report.provenance import environment, file_record, model_record, utc_now
from dfrec.report.summary import write_summary


def _face_dict(files: dict[str, str], score: float) -> dict:
    return {
        "label": "Face 1", "score_fake": score, "verdict": "fake" if score >= 0.5 else "real",
        "idsim_forgery_vs_recovered_target": 0.31, "l2_forgery_vs_recovered_target": 0.71,
        "idsim_recovered_source_vs_target": 0.1, "l2_recovered_source_vs_target": 0.52,
        "dlib_same_person_recovered_source_vs_target": True, "box": [1.0, 2.0, 30.0, 40.0], "detection_score": 1.2,
        "files": files,
    }


@pytest.fixture()
def report_folder(tmp_path, astronaut):
    rng = np.random.default_rng(0)
    files = {}
    for name in ("forgery", "source", "target", "overlay"):
        write_image(tmp_path / f"face1_{name}.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
        files[name] = f"face1_{name}.png"
    write_image(tmp_path / "frame_target.png", astronaut)
    inp = tmp_path / "in.png"
    write_image(inp, astronaut)
    result = {
        "dfrec_version": "0.1.0", "created_utc": utc_now(), "settings": {"fake_threshold": 0.5, "fps": 1.0},
        "environment": environment("cpu"), "model": {"checkpoint": None, "files": [], "config": {}},
        "input": {"path": str(inp), "name": "<script>alert(1)</script>.png", "kind": "image",
                  "sha256": file_record(inp)["sha256"], "bytes": inp.stat().st_size, "width": 512, "height": 512},
        "faces": [_face_dict(files, 0.83)],
        "frames": [{"caption": "Recovered target faces pasted back", "file": "frame_target.png"}],
        "outputs": [file_record(p, tmp_path) for p in sorted(tmp_path.glob("*.png"))],
    }
    return tmp_path, result


def test_file_record_matches_hashlib(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"dfrec" * 1000)
    rec = file_record(p, tmp_path)
    assert rec == {"path": "a.bin", "bytes": 5000, "sha256": hashlib.sha256(b"dfrec" * 1000).hexdigest()}


def test_model_record_hashes_every_checkpoint_file(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"x" * 10)
    (tmp_path / "model-00002-of-00002.safetensors").write_bytes(b"y" * 7)
    rec = model_record(tmp_path, {"preset": "tiny"})
    assert [f["path"] for f in rec["files"]] == [
        "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert rec["files"][2]["sha256"] == hashlib.sha256(b"y" * 7).hexdigest()
    assert rec["config"] == {"preset": "tiny"}
    assert model_record(None)["files"] == []


def test_utc_now_is_iso_utc():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc_now())


def test_report_html_is_self_contained_and_escaped(report_folder):
    folder, result = report_folder
    page = render_report(result, folder)
    assert external_urls(page) == []
    assert "<script>" not in page and "&lt;script&gt;" in page
    uris = re.findall(r'src="(data:image/[a-z]+;base64,[A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 5  # four face images + one pasted frame
    # the inline crop is the very file written beside the page
    raw = base64.b64decode(uris[0].split(",", 1)[1])
    assert raw == (folder / "face1_forgery.png").read_bytes()
    assert "research tool" in page and "likely swapped" in page
    assert result["input"]["sha256"] in page
    # recovered source and target that dlib calls one person: the report says they were not told apart
    assert "0.520 — same person: the two recovered faces were not told apart by dlib" in page


def test_external_urls_detects_network_references():
    assert external_urls('<img src="https://x.org/a.png"><a href="//cdn/x.css">') == ["https://x.org/a.png", "//cdn/x.css"]
    assert external_urls('<img src="data:image/png;base64,AAAA"><a href="sub/report.html">') == []


def test_big_images_inline_as_preview(tmp_path):
    rng = np.random.default_rng(1)
    big = tmp_path / "big.png"
    write_image(big, rng.integers(0, 255, (1100, 1100, 3), dtype=np.uint8))
    assert big.stat().st_size > INLINE_LIMIT
    uri = data_uri(big)
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < big.stat().st_size


def test_summary_links_reports_and_lists_failures(tmp_path, report_folder):
    folder, result = report_folder
    sub = tmp_path / "out" / "a"
    sub.mkdir(parents=True)
    for p in folder.glob("face1_*.png"):
        (sub / p.name).write_bytes(p.read_bytes())
    (sub / "result.json").write_text(json.dumps(result))
    from dfrec.report.summary import summary_entry

    entry = summary_entry(tmp_path / "out", sub, result)
    assert entry["folder"] == "a" and entry["faces"] == 1 and entry["max_score_fake"] == pytest.approx(0.83)
    summary = write_summary(tmp_path / "out", [entry], [{"input": "bad.jpg", "reason": "no face found"}], {"fps": 1.0})
    page = (tmp_path / "out" / "summary.html").read_text()
    assert 'href="a/report.html"' in page and "no face found" in page and external_urls(page) == []
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["processed"] == 1 and on_disk["failed"][0]["input"] == "bad.jpg"
    assert summary["results"][0]["result_json"]["sha256"] == hashlib.sha256((sub / "result.json").read_bytes()).hexdigest()
    assert render_summary(summary).count("<tr>") >= 2
    # the file's format and the software it names, to spot an editing app across a batch
    result["input"].update(format="JPEG", metadata={"Make": "Apple", "Software": "FaceApp 11.2"})
    entry = summary_entry(tmp_path / "out", sub, result)
    assert (entry["format"], entry["software"]) == ("JPEG", "FaceApp 11.2")
    assert "JPEG, written by <code>FaceApp 11.2</code>" in render_summary({"results": [entry]})


def test_summary_lists_the_most_suspicious_first():
    """The batch index reads as a triage list: highest fake score first (a video's worst frame
    breaks a tie), with how many inputs have a face called swapped; summary.json's order is kept."""
    def entry(name, top, kind="image", worst=None):
        e = {"input": f"/in/{name}", "folder": name, "kind": kind, "faces": 1, "max_score_fake": top}
        if worst is not None:
            e["max_score_fake_frame"] = worst
        return e

    results = [entry("a.jpg", 0.10), entry("b.mp4", 0.40, "video", worst=0.95), entry("c.jpg", 0.97),
               entry("d.mp4", 0.40, "video", worst=0.45), entry("e.jpg", 0.62)]
    page = render_summary({"results": results, "settings": {"fake_threshold": 0.5}})
    order = [page.index(f"/in/{n}") for n in ("c.jpg", "e.jpg", "b.mp4", "d.mp4", "a.jpg")]
    assert order == sorted(order)
    assert "5 input(s) processed (2 with a face likely swapped, listed first)" in page
    # the rule is the summary's own threshold, not the default
    assert "(1 with a face likely swapped" in render_summary({"results": results, "settings": {"fake_threshold": 0.9}})


def test_a_report_of_several_faces_lists_them_highest_score_first(report_folder):
    """With several faces the report opens with a table of them, highest fake score first, each
    linking to its card, and the headline names the face with the highest score; one face gets
    neither."""
    import re

    folder, result = report_folder
    files = result["faces"][0]["files"]
    faces = [{**_face_dict(files, score), "label": f"Face {i + 1}"} for i, score in enumerate((0.2, 0.9, 0.6))]
    faces[0]["caveats"] = [{"code": "small_face", "message": "the face is small"}]
    page = render_report({**result, "faces": faces}, folder)
    glance = page.split("At a glance", 1)[1].split("</table>", 1)[0]
    assert re.findall(r'href="#(face-\d)"', glance) == ["face-2", "face-3", "face-1"]
    for i in (1, 2, 3):  # every link lands on its own card
        assert page.count(f'id="face-{i}"') == 1
        assert page.split(f'id="face-{i}"', 1)[1].split("</h3>", 1)[0].endswith(f"Face {i}")
    assert "small face" in glance.split('href="#face-1"', 1)[1] and "less reliable because" in glance
    headline = page.split("analysed.", 1)[1].split("</div>", 1)[0]
    assert "0.900" in headline and 'href="#face-2"' in headline
    single = render_report(result, folder)
    assert "At a glance" not in single and 'href="#face-1"' not in single
    # a video's tracks: ordered by their mean, each with its worst single frame beside it
    tracks = [{**f, "caveats": [], "label": f"Track {i + 1}", "score_fake_max": m, "score_fake_min": 0.1, "n_frames": 3,
               "representative_frame": 0, "representative_time": 0.0, "representative_score_fake": f["score_fake"]}
              for i, (f, m) in enumerate(zip(faces, (0.95, 0.92, 0.7)))]
    video = render_report({**result, "faces": tracks, "input": {**result["input"], "kind": "video", "fps": 10.0,
                                                                 "frame_count": 30, "frames_sampled": 3}}, folder)
    glance = video.split("At a glance: every track", 1)[1].split("</table>", 1)[0]
    assert re.findall(r'href="#(face-\d)"', glance) == ["face-2", "face-3", "face-1"]
    assert "worst frame 0.950" in glance.split('href="#face-1"', 1)[1]
    # no face with a caveat: no caveat column
    assert "less reliable because" not in glance


def test_score_chart_plots_every_frame():
    from dfrec.report.html import score_chart

    frames = [{"time": 0.5 * i, "score_fake": s} for i, s in enumerate([0.0, 1.0, 0.5])]
    svg = score_chart(frames, threshold=0.5, width=100, height=60)
    ys = [float(v) for v in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert len(ys) == 3 and ys[1] < ys[2] < ys[0]  # higher score drawn higher
    assert score_chart([]) == "" and "http" not in svg


def _checkpoint_with_validation(folder, idsim_target: float):
    folder.mkdir()
    meta = {"status": "test run", "checkpoint_step": 7, "images_seen": 700, "training_command": "dfrec train x",
            "validation": [{"step": 3, "val/idsim_target": 0.0},
                           {"step": 7, "val/idsim_source": 0.6, "val/idsim_target": idsim_target,
                            "val/idsim_target_none": 0.5, "val/samples": 64.0, "val/loss": 1.0}]}
    (folder / "config.json").write_text(json.dumps({"format": "dfrec-checkpoint", "config": {}, "metadata": meta}))
    return folder


def test_report_compares_targets_on_two_person_forgeries_when_recorded(tmp_path, report_folder):
    """A validation row with the two-person scores (real faces and self-swaps left out, where the
    forgery is already the target) is the comparison the report states and warns by; a lead under
    the margin still earns a caveat, a clear one none."""
    from dfrec.report.provenance import TARGET_MARGIN, target_caveat, target_comparison

    folder, result = report_folder
    ck = _checkpoint_with_validation(tmp_path / "two", 0.51)  # whole mix: 0.51 vs 0.50
    doc = json.loads((ck / "config.json").read_text())
    doc["metadata"]["validation"][-1].update({"val/idsim_target_two_people": 0.30, "val/idsim_target_none_two_people": 0.28,
                                              "val/two_people": 0.75})
    (ck / "config.json").write_text(json.dumps(doc))
    rec = model_record(ck)
    val = rec["training"]["validation"]
    assert target_comparison(val) == {"recovered": 0.30, "forgery": 0.28, "samples": 48, "two_people": True}
    html = render_report({**result, "model": rec}, folder)
    assert "On forgeries of two different people it never saw in training (48 samples)" in html
    assert "0.30" in html and "0.28" in html and "barely closer to the true person" in html
    clear = {**val, "idsim_target_two_people": 0.28 + TARGET_MARGIN + 0.01}
    assert target_caveat(clear) is None
    assert "further from" in target_caveat({**val, "idsim_target_two_people": 0.2})
    # an older row (whole mix only) is still compared, and said to be over people, not two-person forgeries
    old = {k: v for k, v in val.items() if "two_people" not in k}
    assert target_comparison(old) == {"recovered": 0.51, "forgery": 0.5, "samples": 64, "two_people": False}
    assert target_comparison({}) is None and target_caveat({}) is None


def test_report_says_how_the_model_did_on_held_out_people(tmp_path, report_folder):
    """model_record carries the newest validation row; the report warns when targets lose to the forgery."""
    folder, result = report_folder
    weak = model_record(_checkpoint_with_validation(tmp_path / "weak", 0.2))
    assert weak["training"]["step"] == 7 and weak["training"]["images_seen"] == 700
    assert weak["training"]["validation"] == {"idsim_source": 0.6, "idsim_target": 0.2, "idsim_target_none": 0.5,
                                              "samples": 64.0}
    html = render_report({**result, "model": weak}, folder)
    assert "About this model" in html and "0.20" in html and "0.50" in html
    assert "further from the true person than the forgery" in html
    assert "Measured after training" not in html
    good = model_record(_checkpoint_with_validation(tmp_path / "good", 0.7))
    html = render_report({**result, "model": good}, folder)
    assert "About this model" in html and "further from the true person" not in html
    # a row measured after training (scripts/revalidate_model.py) says what changed
    later = _checkpoint_with_validation(tmp_path / "later", 0.3)
    doc = json.loads((later / "config.json").read_text())
    doc["metadata"]["validation"].append({"step": 7, "val/idsim_source": 0.6, "val/idsim_target": 0.45,
                                          "val/idsim_target_none": 0.5, "note": "deblock <8> px added"})
    (later / "config.json").write_text(json.dumps(doc))
    rec = model_record(later)
    assert rec["training"]["validation"]["idsim_target"] == 0.45
    assert rec["training"]["validation_note"] == "deblock <8> px added"
    html = render_report({**result, "model": rec}, folder)
    assert "0.45" in html and "Measured after training: deblock &lt;8&gt; px added." in html
    # the cumulative training history (one entry per run) is summed and listed
    doc["metadata"]["history"] = [
        {"date": "2026-11", "run": "first <run>", "device": "H100", "minutes": 8.5, "images": 97248, "steps": 1013},
        {"date": "2026-12-02", "run": "continued", "device": "cpu", "minutes": 70.0, "images": 5000, "steps": 1250,
         "validation": {"val/idsim_target": 0.2}, "init_from": "x"}, "not an entry"]
    (later / "config.json").write_text(json.dumps(doc))
    rec = model_record(later)
    assert rec["training"]["images_total"] == 102248 and rec["training"]["minutes_total"] == 78.5
    assert rec["training"]["history"][1] == {"date": "2026-12-02", "run": "continued", "device": "cpu",
                                             "minutes": 70.0, "images": 5000, "steps": 1250}
    html = render_report({**result, "model": rec}, folder)
    assert "trained on 102,248 forgeries (78 min in all; its training history below has 2 entries)" in html
    assert "Training history" in html and "first &lt;run&gt;" in html and "97,248" in html
    # no metadata (e.g. a converted official checkpoint): no card, no error
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps({"model": {}}))
    rec = model_record(bare)
    assert rec["training"] == {}
    html = render_report({**result, "model": rec}, folder)
    assert "About this model" not in html and "further from the true person" not in html
    # and an unreadable config.json is no error either
    (bare / "config.json").write_text("{not json")
    assert model_record(bare)["training"] == {}


def test_bundled_model_records_its_training():
    from dfrec.recover import DEFAULT_CHECKPOINT
    from dfrec.report.provenance import training_summary

    tr = training_summary(DEFAULT_CHECKPOINT)
    assert tr["images_seen"] > 0 and {"idsim_target", "idsim_target_none", "idsim_source"} <= set(tr["validation"])


def _text(page: str) -> str:
    """The page's visible text, tags removed and whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_pair_wording_follows_the_verdict(report_folder):
    """Recovered source and target that dlib calls one person: a warning on a likely swap, the
    expected outcome (worded as such) on a face judged untouched."""
    folder, result = report_folder
    real = {**result["faces"][0], "score_fake": 0.04, "verdict": "real"}
    page = render_report({**result, "faces": [real]}, folder)
    assert "not told apart" not in page
    assert "same person by dlib's rule, as expected for a face judged untouched" in page
    assert "both recoveries are the face itself" in page
    # a video track is worded by the frame its faces come from (representative_score_fake), not the mean
    track = {**result["faces"][0], "score_fake": 0.7, "representative_score_fake": 0.1}
    assert "not told apart" not in render_report({**result, "faces": [track]}, folder)
    assert "not told apart" in render_report(result, folder)  # 0.83: likely swapped


def test_settings_render_as_a_key_value_list(report_folder):
    folder, result = report_folder
    settings = {"fake_threshold": 0.5, "max_faces": None, "seed": 0, "device": "cpu", "checkpoint": "/m/<x>"}
    page = render_report({**result, "settings": settings}, folder)
    row = page[page.index("<th>Settings</th>"):]
    row = row[:row.index("</tr>")]
    assert "{" not in row and "None" not in row and "'" not in row
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", row)
    assert [k for k, _ in pairs] == list(settings)
    assert dict(pairs)["max_faces"] == "not set (default)" and dict(pairs)["seed"] == "0"
    assert dict(pairs)["checkpoint"] == "<code>/m/&lt;x&gt;</code>"


def test_lfw_same_person_number_is_the_measured_one(report_folder):
    """The report quotes the same-person IDSim that docs/identity.md measured on the LFW pairs."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "identity.md").read_text(encoding="utf-8")
    measured = float(re.search(r"^\| IDSim \| (\d\.\d+) ±", doc, re.M).group(1))
    folder, result = report_folder
    text = _text(render_report(result, folder))
    assert f"{measured:.3f} on the 6,000 LFW pairs" in text
    assert f"average about {measured:.1f}" in text and "about 0.75" not in text


def test_video_headline_shows_the_worst_frame(report_folder):
    """A track whose mean is under the line but whose worst frame is over it: the first card says both."""
    from dfrec.report.summary import summary_entry

    folder, result = report_folder
    frames = [{"frame": i * 5, "time": i * 0.5, "score_fake": s} for i, s in enumerate([0.1, 0.1, 0.92, 0.1])]
    track = {**result["faces"][0], "label": "Track 1", "score_fake": 0.305, "verdict": "real", "n_frames": 4,
             "frames": frames, "score_fake_min": 0.1, "score_fake_max": 0.92, "score_fake_max_frame": 10,
             "score_fake_max_time": 1.0, "representative_frame": 0, "representative_time": 0.0,
             "representative_score_fake": 0.1}
    video = {**result, "faces": [track], "input": {**result["input"], "kind": "video", "fps": 10.0,
                                                     "frame_count": 20, "frames_sampled": 4}}
    page = render_report(video, folder)
    head = _text(page[page.index('<div class="card">'):page.index("Read this first")])
    assert "Highest fake score (a track’s mean over its frames) 0.305 — no swap detected" in head
    assert "Worst single frame 0.920 — likely swapped (Track 1, frame #10 at 1.00 s)" in head
    assert "max 0.920 in frame #10 at 1.00 s — likely swapped" in _text(page)
    # an image has no such line
    assert "Worst single frame" not in render_report(result, folder)
    # summary.json / summary.html: the video's worst frame beside its mean
    out = folder / "out"
    (out / "v").mkdir(parents=True)
    (out / "v" / "result.json").write_text(json.dumps(video))
    entry = summary_entry(out, out / "v", video)
    assert entry["max_score_fake"] == pytest.approx(0.305) and entry["max_score_fake_frame"] == pytest.approx(0.92)
    assert "worst single frame 0.920" in render_summary({"results": [entry]})
    assert "max_score_fake_frame" not in summary_entry(out, out / "v", result)


def test_provenance_lists_dlib_files_and_threads(report_folder):
    folder, result = report_folder
    rec = model_record(None)
    page = render_report({**result, "model": rec}, folder)
    prov = page[page.index("<h2>Provenance"):]
    for f in rec["dlib_files"]:
        assert f["path"] in prov and f["sha256"] in prov
    assert re.search(r"CPU threads \(torch\)</th><td>%d " % result["environment"]["torch_threads"], prov)


def test_overview_picture_is_shown_from_its_file(report_folder):
    """The picture with numbered boxes is the file beside the page (listed and hashed in outputs)."""
    folder, result = report_folder
    write_image(folder / "faces_found.jpg", np.full((40, 60, 3), 90, np.uint8))
    page = render_report({**result, "overview": {"file": "faces_found.jpg", "caption": "boxes"}}, folder)
    uris = re.findall(r'<div class="card frames overview"><img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 1 and base64.b64decode(uris[0]) == (folder / "faces_found.jpg").read_bytes()
    assert page.index("faces_found.jpg") < page.index("Face 1</h3>")  # above the face cards
    assert 'class="card frames overview"' not in render_report(result, folder)  # no overview recorded: none shown
