"""Self-contained HTML pages: one ``report.html`` per input and a ``summary.html`` per batch.

Pages carry their images inline as base64 ``data:`` URIs and their styling inline, so they
open from anywhere with no network access and can be archived as one file each. Nothing
here computes results: the functions render the dicts that are also written to
``result.json`` / ``summary.json``.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

from dfrec.report.describe import NO_METADATA, input_rows
from dfrec.report.gallery import LIKELY_TEXT, about, candidate_columns, no_match_text, weak_lead_text
from dfrec.report.provenance import DLIB_ROLES, target_caveat, target_comparison
from dfrec.results import FAKE_THRESHOLD, VERDICT_TEXT, by_score, training_faces, verdict

#: Images larger than this (bytes) are shown inline as a downscaled JPEG preview; the
#: full-resolution file stays beside the page and is listed with its hash.
INLINE_LIMIT = 1_500_000
PREVIEW_SIDE = 1280

CAVEAT = (
    "dfrec is a research tool. Its scores and recovered faces are estimates made by a neural "
    "network trained on synthetic face swaps; they can be wrong, especially on images unlike "
    "its training data (other swap methods, heavy compression, low resolution, unusual pose "
    "or lighting). A recovered face is a reconstruction, not a photograph of a real person. "
    "Do not use these results as the sole basis for any decision about a person."
)

EXPLAIN = [
    ("Fake score", "the model's probability that this face was swapped: 0 means it looks untouched, "
     "1 means it looks like a face swap. Faces at or above {thr:.2f} are labelled “" + VERDICT_TEXT["fake"] + "”."),
    ("Recovered source", "the face whose identity the model thinks was pasted into the picture "
     "(the person the deepfake makes you see)."),
    ("Recovered target", "the model's estimate of the person who was originally in the picture, "
     "under the swap. For an untouched face it should look like the input."),
    ("Map", "where the model locates pixels carrying the pasted identity (red = strong, blue = none)."),
    ("Identity similarity", "how alike the face in the picture and the recovered target are to a "
     "face-recognition network (dlib's, centred; 1 = identical, about 0 = unrelated people; two photos "
     "of the same person average about 0.7: 0.709 on the 6,000 LFW pairs). A swapped face usually scores "
     "lower than an untouched one, because the model recovers a different person underneath."),
    ("Identity distance", "the same comparison as a distance in the dlib face-recognition space; dlib "
     "treats distances under 0.6 as the same person."),
]

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d2330;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.4em 0 .5em}h3{margin:.2em 0 .5em}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:16px 20px;margin:14px 0}
.caveat{background:#fff7e0;border-left:5px solid #e0a800}
.face-caveat{background:#fff7e0;border-left:5px solid #e0a800;padding:6px 10px;margin:.3em 0 .7em}
.faces{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;text-align:center}figure img{width:180px;height:180px;object-fit:contain;border-radius:6px;background:#ddd}
figcaption{font-size:.85em;color:#4a5263;margin-top:4px}
.frames img{max-width:100%;height:auto;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.92em}td,th{padding:5px 8px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f0f2f5}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
.bar{background:#e5e7eb;border-radius:4px;height:10px;width:200px;display:inline-block;vertical-align:middle;margin-right:8px}
.bar span{display:block;height:10px;border-radius:4px}
.fake{color:#b42318;font-weight:600}.real{color:#067647;font-weight:600}.muted{color:#667085}.bad{color:#b42318}.warn{color:#b54708}.nowrap{white-space:nowrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}dt{font-weight:600}dd{margin:0}
dl.settings{gap:2px 14px}dl.settings dt{font-weight:400;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}
td.sha code{word-break:normal;white-space:nowrap}
.overview img{max-width:min(100%,800px)}
.thumb{width:64px;height:64px;object-fit:cover;border-radius:4px}
.gallery{display:flex;flex-wrap:wrap;gap:18px}.gcol{flex:1 1 220px}.gcol h4{margin:.2em 0 0}.gcol .sub{font-size:.8em;color:#4a5263}
.gcol table td{border:none;padding:3px 6px}h4{margin:1em 0 .4em}span.sub{font-size:.8em;color:#4a5263}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def data_uri(path: str | Path) -> str:
    """A ``data:`` URI for an image file (PNG/JPEG bytes as written; big files as a JPEG preview)."""
    p = Path(path)
    raw = p.read_bytes()
    mime = "image/jpeg" if p.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    if len(raw) > INLINE_LIMIT:
        with Image.open(io.BytesIO(raw)) as im:
            im = im.convert("RGB")
            im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=85)
        raw, mime = buf.getvalue(), "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(raw).decode("ascii")


def array_data_uri(image: np.ndarray, side: int | None = None) -> str:
    """A PNG ``data:`` URI of an ``(H, W, 3)`` uint8 array, optionally shrunk to ``side`` px."""
    im = Image.fromarray(np.asarray(image))
    if side:
        im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _bar(score: float, threshold: float = FAKE_THRESHOLD) -> str:
    s = float(np.clip(score, 0, 1))
    color = "#b42318" if verdict(s, threshold) == "fake" else "#067647"
    return f'<span class="bar"><span style="width:{s * 100:.0f}%;background:{color}"></span></span>'


def _verdict(score: float, threshold: float) -> str:
    v = verdict(score, threshold)
    return f'<span class="{v}">{VERDICT_TEXT[v]}</span>'


def _fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return _e(x)


def _figure(folder: Path, name: str | None, caption: str) -> str:
    if not name:
        return ""
    return (f'<figure><img src="{data_uri(folder / name)}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}<br><code>{_e(name)}</code></figcaption></figure>")


def score_chart(frames: list[dict[str, Any]], threshold: float = FAKE_THRESHOLD, width: int = 600, height: int = 120) -> str:
    """Inline SVG of a track's fake score over video time (one dot per sampled frame)."""
    if not frames:
        return ""
    pad = 28
    times = [float(f["time"]) for f in frames]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0

    def xy(t: float, s: float) -> tuple[float, float]:
        return pad + (t - t0) / span * (width - 2 * pad), height - pad / 2 - s * (height - pad)

    pts = [xy(t, float(f["score_fake"])) for t, f in zip(times, frames)]
    ty = xy(t0, threshold)[1]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#1d4ed8"/>' for x, y in pts)
    return (
        f'<svg width="{width}" height="{height}" role="img" '
        f'aria-label="fake score per sampled frame">'
        f'<line x1="{pad}" y1="{ty:.1f}" x2="{width - pad}" y2="{ty:.1f}" stroke="#b42318" stroke-dasharray="4 3"/>'
        f'<text x="2" y="{xy(t0, 1)[1] + 4:.1f}" font-size="10">1</text>'
        f'<text x="2" y="{xy(t0, 0)[1] + 4:.1f}" font-size="10">0</text>'
        f'<text x="{pad}" y="{height - 1}" font-size="10">{t0:.1f} s</text>'
        f'<text x="{width - pad - 30}" y="{height - 1}" font-size="10">{t1:.1f} s</text>'
        f'<polyline points="{line}" fill="none" stroke="#1d4ed8" stroke-width="1.5"/>{dots}</svg>'
    )


def _gallery_html(folder: Path, matches: dict[str, list[dict[str, Any]]], same_threshold: float | None = None) -> str:
    """Candidate lists of one face (thumbnail, name, similarity, verdict) per probe
    (:func:`dfrec.report.gallery.candidate_columns`, as the web page shows them)."""
    cols = []
    for col in candidate_columns(matches):
        rows = []
        for c, likely in col.rows:
            thumb = c.get("thumbnail")
            img = (f'<img class="thumb" src="{data_uri(folder / thumb)}" alt="{_e(c["name"])}">'
                   if thumb and (folder / thumb).is_file() else "")
            verdict = (f' <span class="real">{LIKELY_TEXT}</span>' if likely else
                       f' <span class="muted">{weak_lead_text(same_threshold)}</span>' if likely is False else "")
            rows.append(f'<tr><td>{img}</td><td>{c["rank"]}. <b>{_e(c["name"])}</b>{verdict}<br>'
                        f'similarity {float(c["similarity"]):.3f}</td></tr>')
        head = f'<div class="sub"><b>{no_match_text(same_threshold)}</b></div>' if col.none_likely else ""
        body = "".join(rows) or '<tr><td>the gallery is empty</td></tr>'
        cols.append(f'<div class="gcol"><h4>{_e(col.title)}</h4><div class="sub">{_e(col.sub)}</div>{head}<table>{body}</table></div>')
    return f'<h4>Gallery candidates</h4><div class="gallery">{"".join(cols)}</div>'


def _gallery_note(gal: dict[str, Any]) -> str:
    """What the gallery search means and how often it matches by chance."""
    text = (f"Every recovered face was searched in the gallery <code>{_e(gal.get('folder'))}</code> "
            f"({_e(gal.get('photos'))} photos of {_e(gal.get('persons'))} people, {_e(gal.get('index_type'))} index). "
            "A candidate's similarity is the identity similarity of the face and that person's most similar photo.")
    same = gal.get("likely_same_person")
    if same:
        text += (f" Candidates at or above {float(same['threshold']):.3f} are marked <b>likely the same person</b>: "
                 f"two photos of different people reach that value with probability {float(same['false_match_rate']):g} "
                 f"(false-match rate, calibrated on {_e(same['calibration'])}; same-person photo pairs reach it "
                 f"{float(same['true_match_rate']):.0%} of the time), so about "
                 f"{about(same['expected_chance_matches_per_search'])} chance match(es) per search are expected in "
                 "this gallery. A recovered face is a reconstruction: a candidate is a lead to check, never an "
                 "identification.")
    return f'<div class="card caveat"><b>Gallery search.</b> {text}</div>'


def _pair_words(same: bool | None, face_verdict: str) -> str:
    """What dlib's rule says of the recovered source vs target, worded for the face's verdict: on a
    likely swap "same person" means the model did not tell the two apart; on a face judged
    untouched it is what a working recovery gives."""
    if same is None:
        return ""
    if not same:
        return " — different people by dlib's rule"
    if face_verdict == "real":
        return (" — same person by dlib's rule, as expected for a face judged untouched: with no swap, both "
                "recoveries are the face itself")
    return " — same person: the two recovered faces were not told apart by dlib's rule"


def face_size_text(face: dict[str, Any]) -> str | None:
    """A face's size in the picture next to the training faces' (``None`` for results written
    before faces carried it): report.html and the web app word it alike."""
    if face.get("eye_distance_px") is None:
        return None
    ref = training_faces()["eye_distance_px"]
    return (f"eyes {float(face['eye_distance_px']):.0f} px apart (the training faces: {ref['p1']:.0f}–{ref['p99']:.0f} "
            f"px); the aligned crop is the picture × {float(face['crop_scale']):.2f}")


def face_pose_text(face: dict[str, Any]) -> str | None:
    """A face's head pose next to the training faces' (``None`` when not measured)."""
    pose = face.get("head_pose_deg")
    if not pose:
        return None
    ref = training_faces()
    yaw, pitch = float(pose["yaw"]), float(pose["pitch"])
    return (f"turned {abs(yaw):.0f}° to the side, tilted {abs(pitch):.0f}° chin {'down' if pitch > 0 else 'up'} "
            f"(the training faces: up to {ref['abs_yaw_deg']['p99']:.0f}° to the side, "
            f"{abs(ref['pitch_deg']['p1']):.0f}° chin up to {ref['pitch_deg']['p99']:.0f}° chin down)")


def face_geometry_rows(face: dict[str, Any]) -> list[tuple[str, str]]:
    """The (label, text) rows of a face's size and head pose that report.html and the web app
    add to a face's table; only those the result carries."""
    rows = [("Face size in the picture", face_size_text(face)), ("Head pose", face_pose_text(face))]
    return [(label, text) for label, text in rows if text]


#: The words before each of a face's caveats, in report.html and the web app.
CAVEAT_LEAD = "Less reliable here."


def caveat_sentences(face: dict[str, Any]) -> list[str]:
    """The face's ``caveats`` as sentences (capitalised, full stop), for report.html and the web app."""
    return [c["message"][:1].upper() + c["message"][1:] + "." for c in face.get("caveats", [])]


def _face_anchor(i: int) -> str:
    """The ``id`` of the ``i``-th face card (0-based, in ``result["faces"]`` order)."""
    return f"face-{i + 1}"


def _face_link(faces: list[dict[str, Any]], i: int) -> str:
    """A link to the ``i``-th face card, by the face's label ("Face 3" where it has none)."""
    return f'<a href="#{_face_anchor(i)}">{_e(faces[i].get("label", f"Face {i + 1}"))}</a>'


def _faces_at_a_glance(faces: list[dict[str, Any]], thr: float, video: bool) -> str:
    """For two or more faces: one row per face, highest fake score first, each linking to its card,
    so the face that matters in a group photo or a crowded video is one click away."""
    if len(faces) < 2:
        return ""
    any_caveat = any(f.get("caveats") for f in faces)  # the column only where a face has one
    rows = []
    for i in by_score(faces):
        f = faces[i]
        score = float(f["score_fake"])
        worst = (f" (worst frame {float(f['score_fake_max']):.3f} — {_verdict(float(f['score_fake_max']), thr)})"
                 if video and "score_fake_max" in f else "")
        kinds = ", ".join(dict.fromkeys(c["code"].replace("_", " ") for c in f.get("caveats", [])))
        rows.append(f'<tr><td class="nowrap">{_face_link(faces, i)}</td>'
                    f"<td>{_bar(score, thr)}{score:.3f} — {_verdict(score, thr)}{worst}</td>"
                    + (f'<td class="warn">{_e(kinds)}</td>' if any_caveat else "") + "</tr>")
    what = "track" if video else "face"
    score_head = "fake score (the track’s mean)" if video else "fake score"
    return (f'<div class="card glance"><h3>At a glance: every {what}, highest fake score first</h3><table>'
            f"<tr><th>{what}</th><th>{score_head}</th>{'<th>less reliable because</th>' if any_caveat else ''}</tr>"
            f"{''.join(rows)}</table></div>")


def _face_card(folder: Path, face: dict[str, Any], threshold: float, same_threshold: float | None = None,
               anchor: str = "") -> str:
    files = face.get("files", {})
    score = float(face["score_fake"])
    figs = "".join(
        _figure(folder, files.get(k), cap)
        for k, cap in (("forgery", "Face in the image (aligned)"), ("source", "Recovered source"),
                       ("target", "Recovered target"), ("overlay", "Map over the face"))
    )
    rows = [
        ("Fake score", f"{_bar(score, threshold)}{score:.3f} — {_verdict(score, threshold)}"),
        ("Identity similarity (face vs recovered target)", _fmt(face.get("idsim_forgery_vs_recovered_target"))),
        ("Identity distance (face vs recovered target)", _fmt(face.get("l2_forgery_vs_recovered_target"))
         + ("" if face.get("dlib_same_person_forgery_vs_recovered_target") is None else
            " — " + ("same person" if face["dlib_same_person_forgery_vs_recovered_target"] else "different people")
            + " by dlib's rule")),
        ("Identity similarity (recovered source vs target)", _fmt(face.get("idsim_recovered_source_vs_target"))),
        ("Identity distance (recovered source vs target)", _fmt(face.get("l2_recovered_source_vs_target"))
         + _pair_words(face.get("dlib_same_person_recovered_source_vs_target"),  # of the face shown: a track's
                       verdict(float(face.get("representative_score_fake", score)), threshold))),  # own frame
        ("Face box (x0, y0, x1, y1)", ", ".join(f"{v:.0f}" for v in face.get("box", []))),
        ("Detector confidence", _fmt(face.get("detection_score"))),
    ]
    rows += face_geometry_rows(face)
    if "n_frames" in face:  # a video track
        worst = (f" in frame #{face['score_fake_max_frame']} at {float(face['score_fake_max_time']):.2f} s"
                 if "score_fake_max_frame" in face else "")
        rows.insert(1, ("Frames with this face", f"{face['n_frames']} (fake score min {face['score_fake_min']:.3f}, "
                                                 f"max {face['score_fake_max']:.3f}{worst} — "
                                                 f"{_verdict(face['score_fake_max'], threshold)}; mean shown above)"))
        rows.insert(2, ("Representative frame", f"#{face['representative_frame']} at {face['representative_time']:.2f} s "
                                                f"(its own fake score {face['representative_score_fake']:.3f})"))
    table = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    chart = ""
    if face.get("frames"):
        chart = ("<p>Fake score of this face in each sampled frame (dashed: the "
                 f"{threshold:.2f} line):</p>" + score_chart(face["frames"], threshold))
    gallery = _gallery_html(folder, face["gallery"], same_threshold) if face.get("gallery") is not None else ""
    caveats = "".join(f'<p class="face-caveat"><b>{CAVEAT_LEAD}</b> {_e(c)}</p>' for c in caveat_sentences(face))
    idattr = f' id="{anchor}"' if anchor else ""
    return (f'<div class="card"{idattr}><h3>{_e(face.get("label", "Face"))}</h3>{caveats}'
            f'<div class="faces">{figs}</div><table>{table}</table>{gallery}{chart}</div>')


def render_report(result: dict[str, Any], folder: str | Path) -> str:
    """HTML of one input's report from its ``result.json`` dict; images read from ``folder``."""
    folder = Path(folder)
    inp = result["input"]
    thr = float(result.get("settings", {}).get("fake_threshold", FAKE_THRESHOLD))
    faces = result.get("faces", [])
    parts = [f"<h1>dfrec report: {_e(inp.get('name', ''))}</h1>"]
    if faces:
        parts.append(_headline(faces, thr, inp.get("kind") == "video"))
    parts.append(f'<div class="card caveat"><b>Read this first.</b> {_e(CAVEAT)}</div>')
    for note in result.get("notes", []):
        parts.append(f'<div class="card caveat"><b>Note.</b> {_e(note)}</div>')
    parts.append(_model_card(result.get("model", {})))
    parts.append("<h2>What the numbers mean</h2><div class=\"card\"><dl>"
                 + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v.format(thr=thr))}</dd>" for k, v in EXPLAIN)
                 + "</dl></div>")
    if inp.get("kind") == "video":
        parts.append("<h2>Faces tracked through the video</h2>"
                     "<p>Each track is one face followed across the sampled frames; its fake score is the "
                     "mean over the frames it appears in, and the pictures come from its most representative "
                     "frame: the one with the largest face among the frames whose own score gives the track's "
                     "verdict.</p>")
    else:
        parts.append("<h2>Faces</h2>")
    if result.get("overview"):
        parts.append(_overview_html(folder, result["overview"], thr))
    parts.append(_faces_at_a_glance(faces, thr, inp.get("kind") == "video"))
    if result.get("gallery"):
        parts.append(_gallery_note(result["gallery"]))
    same = (result.get("gallery") or {}).get("likely_same_person") or {}
    parts += [_face_card(folder, f, thr, same.get("threshold"), _face_anchor(i)) for i, f in enumerate(faces)]
    frames = result.get("frames", [])
    if frames:
        parts.append("<h2>Recovered faces pasted back into the picture</h2>")
        for fr in frames:
            parts.append(f'<div class="card frames"><h3>{_e(fr["caption"])}</h3>'
                         f'<img src="{data_uri(folder / fr["file"])}" alt="{_e(fr["caption"])}">'
                         f'<div class="mono">{_e(fr["file"])}</div></div>')
    parts.append(provenance_html(result))
    return _page(f"dfrec report: {inp.get('name', '')}", "".join(parts))


def _headline(faces: list[dict[str, Any]], thr: float, video: bool) -> str:
    """The first card: how many faces, the highest fake score; for a video the highest track mean
    and, beside it, the worst single frame (a swap in a few frames barely moves a track's mean)."""
    i_top = by_score(faces)[0]
    top = float(faces[i_top]["score_fake"])
    what = "tracked face" if video else "face"
    which = f" ({_face_link(faces, i_top)})" if len(faces) > 1 else ""
    text = (f'<b>{len(faces)} {what}{"s" if len(faces) != 1 else ""} analysed.</b> '
            f"Highest fake score{' (a track’s mean over its frames)' if video else ''} "
            f"{_bar(top, thr)}{top:.3f} — {_verdict(top, thr)}{which}.")
    if video and all("score_fake_max" in f for f in faces):
        worst = max(faces, key=lambda f: float(f["score_fake_max"]))
        w = float(worst["score_fake_max"])
        where = _e(worst.get("label", "a track"))
        if "score_fake_max_frame" in worst:
            where += f", frame #{worst['score_fake_max_frame']} at {float(worst['score_fake_max_time']):.2f} s"
        text += (f"<br>Worst single frame {_bar(w, thr)}{w:.3f} — {_verdict(w, thr)} ({where}).")
    return f'<div class="card">{text}</div>'


def _overview_html(folder: Path, overview: dict[str, Any], thr: float) -> str:
    """The picture with every face boxed and numbered (:mod:`dfrec.report.overview`)."""
    name = overview.get("file")
    if not name or not (folder / name).is_file():
        return ""
    if "tracks" in overview:  # a video: one frame, its faces tagged with their track numbers
        text = (f'{_e(overview.get("caption", ""))}. Red box: {VERDICT_TEXT["fake"]}, green: {VERDICT_TEXT["real"]}, '
                f'by the track’s mean fake score over its frames (threshold {thr:.2f}).')
    else:
        text = (f'Every face found, numbered as below from the largest (red box: {VERDICT_TEXT["fake"]}, '
                f'green: {VERDICT_TEXT["real"]}, at a fake score of {thr:.2f}).')
    return (f'<div class="card frames overview">'
            f'<img src="{data_uri(folder / name)}" alt="{_e(overview.get("caption", ""))}">'
            f'<p>{text}</p><div class="mono">{_e(name)}</div></div>')


def _model_card(model: dict[str, Any]) -> str:
    """How the model was trained and how well it did on held-out people (from its metadata)."""
    tr = model.get("training") or {}
    val = tr.get("validation") or {}
    if not tr:
        return ""
    bits = []
    history = tr.get("history") or []
    if len(history) > 1 and tr.get("images_total"):
        bits.append(f"trained on {int(tr['images_total']):,} forgeries ({float(tr.get('minutes_total') or 0):.0f} min "
                    f"in all; its training history below has {len(history)} entries)")
    elif tr.get("images_seen"):
        bits.append(f"trained on {int(tr['images_seen']):,} forgeries")
    if tr.get("status"):
        bits.append(_e(tr["status"]))
    text = "This model was " + "; ".join(bits) + "." if bits else ""
    warn = ""
    cmp = target_comparison(val)
    if cmp:
        n = f" ({cmp['samples']} samples)" if cmp["samples"] else ""
        which = "forgeries of two different people" if cmp["two_people"] else "people"
        text += (f" On {which} it never saw in training{n}, its recovered targets had identity similarity "
                 f"{cmp['recovered']:.2f} to the true target, where the forgery itself had {cmp['forgery']:.2f}")
        text += f"; its recovered sources had {val['idsim_source']:.2f} to the true source." if "idsim_source" in val else "."
        if tr.get("validation_note"):
            text += f" (Measured after training: {_e(tr['validation_note'])}.)"
        caveat = target_caveat(val)
        if caveat:
            warn = (f"<p><b>{caveat}</b> Treat the recovered target as a rough visualisation, not as "
                    "a likeness of the original person.</p>")
    return f'<div class="card caveat"><b>About this model.</b> {text}{warn}{_history_html(history)}</div>'


def _history_html(history: list[dict[str, Any]]) -> str:
    """The model's training history as a folded table (date, device, minutes, forgeries, what)."""
    if not history:
        return ""

    def num(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "–"

    rows = "".join(f'<tr><td>{_e(h.get("date", "–"))}</td><td>{_e(h.get("device", "–"))}</td>'
                   f'<td class="num">{num(h.get("minutes"), ".1f")}</td><td class="num">{num(h.get("images"), ",")}</td>'
                   f'<td>{_e(h.get("run", ""))}</td></tr>' for h in history)
    return ('<details class="history"><summary>Training history</summary><table><tr><th>date</th><th>device</th>'
            f'<th>minutes</th><th>forgeries</th><th>what was done</th></tr>{rows}</table></details>')


def _metadata_html(metadata: dict[str, str]) -> str:
    """``name: <code>text</code>`` lines of a file's ``metadata`` (``""`` for none)."""
    return "<br>".join(f"{_e(k)}: <code>{_e(v)}</code>" for k, v in metadata.items())


def provenance_html(result: dict[str, Any]) -> str:
    """The "Provenance" section of a result (a ``result.json`` dict): input, model, dlib and output
    files with their SHA-256, software versions, torch's thread count and the settings; shared by
    report.html and the web app's result page."""
    inp, model, env = result["input"], result.get("model", {}), result.get("environment", {})
    info = [
        ("Input file", f"<code>{_e(inp.get('path'))}</code>"),
        ("Input SHA-256", f"<code>{_e(inp.get('sha256'))}</code>"),
        ("Input size", f"{_e(inp.get('width'))}×{_e(inp.get('height'))} px, {_e(inp.get('bytes'))} bytes"),
        ("Created (UTC)", _e(result.get("created_utc"))),
        ("dfrec version", _e(result.get("dfrec_version"))),
        ("Device", _e(f"{env.get('device')} ({env.get('device_name')})")),
        ("Model checkpoint", f"<code>{_e(model.get('checkpoint'))}</code>"),
        ("Software", _e(", ".join(f"{k} {env[k]}" for k in ("python", "torch", "numpy", "opencv", "dlib")
                                   if env.get(k)))),
        ("CPU threads (torch)", _e(env.get("torch_threads", "not recorded"))
         + " — outputs are reproducible bit for bit on the same machine with the same thread count"),
        ("Platform", _e(env.get("platform"))),
        ("Settings", _settings_html(result.get("settings") or {})),
    ]
    for i, (label, value) in enumerate(input_rows(inp, (result.get("settings") or {}).get("fps"))):
        info.insert(3 + i, (label, (_metadata_html(value) or _e(NO_METADATA[inp.get("kind")]))
                            if isinstance(value, dict) else _e(value)))
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in info)
    dlib = "".join(f"<tr><td>{_e(DLIB_ROLES.get(f.get('role'), f.get('role')))}</td>"
                   f"<td><code>{_e(f.get('path') or f.get('name'))}</code></td><td>{_e(f.get('bytes', '–'))}</td>"
                   f"<td class=\"sha\"><code>{_e(f.get('sha256') or f.get('error') or f.get('note', ''))}</code></td></tr>"
                   for f in model.get("dlib_files", []))
    photos = _gallery_photos(result)
    mfiles = "".join(f"<tr><td><code>{_e(f['path'])}</code></td><td>{f['bytes']}</td><td><code>{_e(f['sha256'])}</code></td></tr>"
                     for f in model.get("files", []))
    outs = "".join(f"<tr><td><code>{_e(f['path'])}</code></td><td>{f['bytes']}</td><td><code>{_e(f['sha256'])}</code></td></tr>"
                   for f in result.get("outputs", []))
    return (
        "<h2>Provenance</h2><div class=\"card\"><p>Every file below can be checked with any SHA-256 "
        "tool (e.g. <code>sha256sum</code>). <code>result.json</code> beside this page holds the same "
        "records, including this page's own hash.</p>"
        f"<table>{rows}</table>"
        f"<h3>Model files</h3><table><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>{mfiles}</table>"
        + (f"<h3>dlib model files</h3><p>Face detection, landmarks and identity use these files beside the DFREC "
           "model (dlib's HOG detector is built into dlib itself: its version is under Software above).</p>"
           f"<table><tr><th>role</th><th>file</th><th>bytes</th><th>SHA-256</th></tr>{dlib}</table>" if dlib else "")
        + (f"<h3>Gallery photos of the candidates</h3><table><tr><th>file</th><th>SHA-256 (recorded by the gallery)"
           f"</th></tr>{photos}</table>" if photos else "")
        + f"<h3>Output files</h3><table><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>{outs}</table></div>"
    )


def _settings_html(settings: dict[str, Any]) -> str:
    """A run's settings as a key/value list (``None``: not set, the default applies)."""
    def value(v: Any) -> str:
        if v is None:
            return "not set (default)"
        if isinstance(v, bool):
            return "yes" if v else "no"
        return f"<code>{_e(v)}</code>" if isinstance(v, str) else _e(v)

    items = "".join(f"<dt>{_e(k)}</dt><dd>{value(v)}</dd>" for k, v in settings.items())
    return f'<dl class="settings">{items}</dl>'


def _gallery_photos(result: dict[str, Any]) -> str:
    """Table rows: every gallery photo a candidate came from, once, with its recorded SHA-256."""
    seen: dict[str, Any] = {}
    for face in result.get("faces", []):
        for items in (face.get("gallery") or {}).values():
            for c in items:
                if c.get("gallery_file"):
                    seen.setdefault(c["gallery_file"], c.get("gallery_file_sha256"))
    return "".join(f"<tr><td><code>{_e(path)}</code></td><td><code>{_e(digest or 'not recorded')}</code></td></tr>"
                   for path, digest in seen.items())


def _href(folder: str) -> str:
    """A relative folder path as a URL path (``#``, ``?``, ``%``, spaces in names stay literal)."""
    from urllib.parse import quote

    return quote(folder, safe="/", errors="surrogateescape")


def _worst_frame_note(item: dict[str, Any], thr: float) -> str:
    """For a video in the summary: its worst single frame beside the track mean."""
    worst = item.get("max_score_fake_frame")
    if worst is None:
        return ""
    return f"<br><small>worst single frame {float(worst):.3f} — {_verdict(float(worst), thr)}</small>"


def _caveat_count(item: dict[str, Any]) -> str:
    """`` (1 less reliable: small face)`` after a summary line's face count, when any face has a caveat."""
    flagged = [codes for codes in item.get("caveats", []) if codes]
    if not flagged:
        return ""
    kinds = sorted({c.replace("_", " ") for codes in flagged for c in codes})
    return f' <span class="warn">({len(flagged)} less reliable: {_e(", ".join(kinds))})</span>'


def _file_note(item: dict[str, Any]) -> str:
    """A summary row's format and the software its file names, under its kind (empty for
    summaries written before they were recorded)."""
    parts = [_e(item["format"])] if item.get("format") else []
    if item.get("software"):
        parts.append(f"written by <code>{_e(item['software'])}</code>")
    return f'<br><span class="sub">{", ".join(parts)}</span>' if parts else ""


def render_summary(summary: dict[str, Any], thumbs: dict[str, str] | None = None) -> str:
    """HTML index of a batch from its ``summary.json`` dict; ``thumbs`` maps report folders
    to ``data:`` URIs of a face thumbnail. The inputs are listed most suspicious first (highest
    fake score, then a video's worst single frame, then the input's name), so a large batch
    reads as a triage list; ``summary.json`` keeps the folders' order."""
    thumbs = thumbs or {}
    thr = float(summary.get("settings", {}).get("fake_threshold", FAKE_THRESHOLD))
    results = summary.get("results", [])
    flagged = sum(1 for item in results if verdict(item.get("max_score_fake", 0.0), thr) == "fake")
    rows = []
    for item in sorted(results, key=lambda r: (-r.get("max_score_fake", 0.0),
                                               -r.get("max_score_fake_frame", r.get("max_score_fake", 0.0)),
                                               str(r.get("input")))):
        top = item.get("max_score_fake")
        thumb = thumbs.get(item["folder"])
        img = f'<img class="thumb" src="{thumb}" alt="">' if thumb else ""
        rows.append(
            f"<tr><td>{img}</td><td><a href=\"{_e(_href(item['folder']))}/report.html\">{_e(item['input'])}</a></td>"
            f"<td>{_e(item['kind'])}{_file_note(item)}</td><td>{item['faces']}{_caveat_count(item)}</td>"
            f"<td>{_bar(top, thr)}{top:.3f} — {_verdict(top, thr)}{_worst_frame_note(item, thr)}</td></tr>"
        )
    bad = "".join(f"<tr><td><code>{_e(b['input'])}</code></td><td class=\"bad\">{_e(b['reason'])}</td></tr>"
                  for b in summary.get("failed", []))
    body = [
        "<h1>dfrec batch summary</h1>",
        f'<div class="card">{len(results)} input(s) processed ({flagged} with a face {VERDICT_TEXT["fake"]}, '
        f'listed first), {len(summary.get("failed", []))} could not be processed. '
        f'Created {_e(summary.get("created_utc"))} with dfrec {_e(summary.get("dfrec_version"))}.</div>',
        f'<div class="card caveat"><b>Read this first.</b> {_e(CAVEAT)}</div>',
        "<h2>Processed</h2><div class=\"card\"><table><tr><th></th><th>input (opens its report)</th>"
        "<th>kind</th><th>faces</th><th>highest fake score (video: a track's mean), highest first</th></tr>"
        + "".join(rows) + "</table></div>",
    ]
    if bad:
        body.append("<h2>Not processed</h2><div class=\"card\"><table><tr><th>input</th><th>reason</th></tr>"
                    + bad + "</table></div>")
    return _page("dfrec batch summary", "".join(body))


def external_urls(page: str) -> list[str]:
    """URLs in ``src``/``href`` attributes that would need the network (for checks/tests)."""
    import re

    found: Iterable[str] = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page)
    return [u for u in found if u.startswith(("http:", "https:", "//", "ftp:"))]
