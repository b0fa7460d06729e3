"""HTML of the ``dfrec serve`` pages: upload, job (live progress), results per input, cases.

Plain functions that turn dicts (jobs from :mod:`dfrec.serve.jobs`, ``result.json`` dicts
from the report writer) into HTML strings; every value from a user or a file is escaped.
Styling and script are static files (``static/app.css``, ``static/app.js``) so the pages
run under a strict Content-Security-Policy (no inline script).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from dfrec.report.gallery import LIKELY_TEXT, about, below, candidate_columns, no_match_text, weak_lead_text
from dfrec.report.html import CAVEAT, CAVEAT_LEAD, caveat_sentences, face_geometry_rows, provenance_html
from dfrec.report.provenance import target_caveat
from dfrec.results import FAKE_THRESHOLD, VERDICT_COLOR, VERDICT_TEXT, by_score, verdict

def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _u(x: Any) -> str:
    return quote(str(x), safe="")


def page(title: str, body: str, active: str = "", status: str = "") -> str:
    nav = "".join(f'<a href="{href}" class="{"on" if key == active else ""}">{label}</a>'
                  for key, href, label in (("new", "/", "New case"), ("cases", "/cases", "Cases")))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{_e(title)} · dfrec</title><link rel=\"icon\" href=\"data:,\">"
        "<link rel=\"stylesheet\" href=\"/static/app.css\">"
        "<script src=\"/static/app.js\" defer></script></head><body>"
        f"<header class=\"top\"><div class=\"in\"><a class=\"brand\" href=\"/\">dfrec <span>workbench</span></a>"
        f"<nav>{nav}</nav><div class=\"status\" id=\"server-status\">{_e(status)}</div></div></header>"
        f"<main>{body}</main></body></html>\n"
    )


def _bar(frac: float, ident: str = "") -> str:
    idattr = f' id="{ident}"' if ident else ""
    return f'<div class="pbar"><span{idattr} style="width:{max(0.0, min(1.0, frac)) * 100:.0f}%"></span></div>'


def _badge(status: str, extra: str = "", ident: str = "") -> str:
    idattr = f' id="{ident}"' if ident else ""
    return f'<span class="badge {_e(status)} {extra}"{idattr}>{_e(status)}</span>'


def _score(x: float | None, threshold: float = FAKE_THRESHOLD) -> str:
    if x is None:
        return '<span class="muted">–</span>'
    cls = verdict(x, threshold)
    return f'<span class="badge {cls}">{x:.2f} {VERDICT_TEXT[cls]}</span>'


# ---------------------------------------------------------------------------------------- upload
def upload_page(limits: dict[str, Any], recent: list[dict[str, Any]], status: str, error: str = "") -> str:
    rows = "".join(_case_row(j) for j in recent[:5])
    recent_html = (f'<h2>Recent cases</h2><div class="card"><table>{_case_head()}{rows}</table>'
                   '<p class="small"><a href="/cases">All cases →</a></p></div>') if recent else ""
    body = f"""
<h1>New case</h1>
<p class="lead">Drop the pictures or videos you want to check. dfrec finds every face, scores how likely it was
face-swapped, and recovers the two people behind a swap: the <b>source</b> whose identity was pasted in and the
<b>target</b> who was originally in the picture{', then looks both up in the gallery of known faces' if limits.get('gallery') else ''}.</p>
<form id="upload-form" class="card" action="/upload" method="post" enctype="multipart/form-data">
  <label id="drop" class="drop" tabindex="0">
    <div class="big">Drop pictures or videos here</div>
    <div class="small">or click to choose files · up to {limits['max_files']} files and {limits['max_upload_mb']:.0f} MB per upload ·
    JPEG, PNG, WebP, HEIC, AVIF, TIFF, BMP · MP4, MOV, WebM, MKV, AVI, TS, MPG, 3GP, FLV, WMV</div>
    <input id="files" type="file" name="files" multiple accept="image/*,video/*">
  </label>
  <ul id="file-list" class="files"></ul>
  <div id="upload-error" class="error" role="alert">{_e(error)}</div>
  <div class="row"><button id="upload-button" type="submit">Upload and analyse</button>
  <div id="upload-progress" class="pbar" hidden style="width:240px"><span style="width:0%"></span></div></div>
  <noscript><p class="small">Without JavaScript: choose the files above, then press the button.</p></noscript>
</form>
<div class="card caveat"><b>Read this first.</b> {_e(CAVEAT)}</div>
{recent_html}"""
    return page("New case", body, "new", status)


# ---------------------------------------------------------------------------------------- cases
def _case_head() -> str:
    return ("<tr><th>Created (UTC)</th><th>Case</th><th>Files</th><th>Status</th><th>Faces</th>"
            "<th>Highest fake score</th><th></th></tr>")


def _delete_question(job: dict[str, Any]) -> str:
    cancelled = " and its analysis is cancelled" if job["status"] == "queued" else ""
    return (f"Delete case {job['id'][:8]}? Its uploaded files and all its results are removed from the "
            f"server{cancelled}. This cannot be undone.")


def delete_form(job: dict[str, Any], cls: str, ident: str = "") -> str:
    """The Delete button of a case. With JavaScript a dialog asks first and the form is sent with
    ``confirmed=yes``; without it the server answers with :func:`delete_confirm_page`. Hidden
    while the case runs (the server refuses to delete it then)."""
    jid = job["id"]
    idattr = f' id="{_e(ident)}"' if ident else ""
    hidden = " hidden" if job["status"] == "running" else ""
    return (f'<form method="post" action="/jobs/{_u(jid)}/delete" class="{_e(cls)}" data-confirm="{_e(_delete_question(job))}">'
            f'<button{idattr} class="danger" type="submit"{hidden}>Delete case</button></form>')


def delete_confirm_page(job: dict[str, Any], status: str) -> str:
    """The question a Delete without ``confirmed=yes`` gets (a browser without JavaScript)."""
    jid = job["id"]
    body = (f'<div class="crumbs"><a href="/cases">Cases</a> › case <code>{_e(jid[:8])}</code></div>'
            f'<h1>Delete case <code>{_e(jid[:8])}</code>?</h1><div class="card" id="delete-question">'
            f'<p>{_e(_delete_question(job))}</p>'
            f'<form method="post" action="/jobs/{_u(jid)}/delete" class="row">'
            f'<input type="hidden" name="confirmed" value="yes">'
            f'<button id="delete-confirmed" class="danger" type="submit">Delete case</button>'
            f'<a class="btn ghost" href="/jobs/{_u(jid)}">Keep it</a></form></div>')
    return page("Delete case?", body, "cases", status)


def _case_row(j: dict[str, Any]) -> str:
    names = ", ".join(i["name"] for i in j["inputs"][:3]) + (f" +{len(j['inputs']) - 3}" if len(j["inputs"]) > 3 else "")
    return (f'<tr class="case"><td class="num">{_e(j["created_utc"].replace("T", " ").rstrip("Z"))}</td>'
            f'<td><a href="/jobs/{_u(j["id"])}"><code>{_e(j["id"][:8])}</code></a></td>'
            f'<td>{_e(names)}</td><td>{_badge(j["status"])}</td><td class="num">{j["faces"]}</td>'
            f'<td>{_score(j["max_score"])}</td><td>{delete_form(j, "delete-row")}</td></tr>')


def cases_page(jobs: list[dict[str, Any]], status: str, deleted: str = "") -> str:
    """All cases; ``deleted``: the short id of a case just deleted (a note says so)."""
    note = (f'<div class="card" id="deleted-note">Case <code>{_e(deleted)}</code> was deleted: its uploaded files and '
            'results are removed from the server.</div>') if deleted else ""
    if jobs:
        table = f'<div class="card"><table id="cases">{_case_head()}{"".join(_case_row(j) for j in jobs)}</table></div>'
    else:
        table = '<div class="card">No cases yet. <a href="/">Upload the first pictures →</a></div>'
    body = f'<h1>Cases</h1><p class="lead">Every upload, newest first. Cases are kept in the server\'s data folder ' \
           f'and survive restarts until they are deleted.</p>{note}{table}'
    return page("Cases", body, "cases", status)


def back_to_case(job_id: str) -> str:
    return f'<p><a href="/jobs/{_u(job_id)}">← Back to the case</a></p>'


# ---------------------------------------------------------------------------------------- job
def job_page(job: dict[str, Any], status: str) -> str:
    jid = job["id"]
    rows = []
    for inp in job["inputs"]:
        st = inp["status"]
        frac = 1.0 if st in ("done", "failed", "rejected") else float(inp["progress"] or 0)
        link = (f'<a class="btn ghost result-link" href="/jobs/{_u(jid)}/inputs/{inp["n"]}"'
                f'{"" if st == "done" else " hidden"}>View results</a>')
        rows.append(
            f'<tr id="input-{inp["n"]}"><td>{_e(inp["name"])}<div class="msg">{_e(inp["message"] or "")}</div></td>'
            f'<td>{_e(inp["kind"] or "")}</td><td>{_badge(st, "st")}</td>'
            f'<td>{"" if st == "rejected" else _bar(frac)}<div class="small muted stage">{_e(inp["stage"] or "")}</div></td>'
            f'<td class="num faces">{"" if inp["faces"] is None else inp["faces"]}</td>'
            f'<td class="max-score">{"" if inp.get("max_score") is None else _score(inp["max_score"])}</td><td>{link}</td></tr>')
    done = job["status"] == "done"
    interrupted = job["status"] == "interrupted"
    body = f"""
<div class="crumbs"><a href="/cases">Cases</a> › case <code>{_e(jid[:8])}</code></div>
<div id="job" data-job="{_e(jid)}" data-status="{_e(job['status'])}" data-threshold="{FAKE_THRESHOLD}"
 data-fake-text="{_e(VERDICT_TEXT['fake'])}" data-real-text="{_e(VERDICT_TEXT['real'])}">
<h1>Case <code>{_e(jid[:8])}</code> {_badge(job['status'], ident='job-status')}</h1>
<p class="lead">Created {_e(job['created_utc'].replace('T', ' ').rstrip('Z'))} UTC · {len(job['inputs'])} file(s).
This page updates by itself while the files are analysed.</p>
<div class="card"><div class="row">{_bar(job['progress'], 'job-progress')}<span id="job-percent" class="num">{job['progress'] * 100:.0f} %</span></div>
<p id="job-message" class="msg">{_e(job.get('message') or '')}</p>
<form method="post" action="/jobs/{_u(jid)}/rerun" class="row"><button id="rerun" type="submit"{'' if interrupted else ' hidden'}>Re-run the unfinished files</button></form>
<div id="job-downloads" class="downloads"{'' if done else ' hidden'}><a class="btn ghost" href="/jobs/{_u(jid)}/all.zip">Download everything (zip)</a></div>
{delete_form(job, 'row delete', 'delete-case')}
</div>
<div class="card"><table><tr><th>File</th><th>Kind</th><th>Status</th><th>Progress</th><th>Faces</th><th>Highest fake score</th><th></th></tr>
{''.join(rows)}</table></div>
</div>
<noscript><meta http-equiv="refresh" content="3"></noscript>"""
    return page(f"Case {jid[:8]}", body, "cases", status)


# ---------------------------------------------------------------------------------------- results
def _boxes_svg(faces: list[dict[str, Any]], width: int, height: int, threshold: float) -> str:
    parts = []
    for i, f in enumerate(faces):
        x0, y0, x1, y1 = (float(v) for v in f["box"])
        color = VERDICT_COLOR[verdict(f["score_fake"], threshold)]
        label = f"{i + 1}"
        parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" stroke="{color}"/>')
        tw = 26
        parts.append(f'<rect x="{x0:.1f}" y="{max(0, y0 - 24):.1f}" width="{tw}" height="22" fill="{color}" stroke="none" '
                     f'style="fill:{color}"/><text x="{x0 + 8:.1f}" y="{max(0, y0 - 24) + 16:.1f}" fill="#fff">{label}</text>')
    return (f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
            f'aria-label="faces found">{"".join(parts)}</svg>')


def _fmt(x: Any, nd: int = 3) -> str:
    return "–" if x is None else f"{float(x):.{nd}f}"


def _candidates(base: str, matches: dict[str, list[dict[str, Any]]], same_threshold: float | None = None) -> str:
    """Candidate lists per probe (:func:`dfrec.report.gallery.candidate_columns`, as report.html
    shows them): a candidate under the gallery's threshold is greyed as a weak lead, and a list
    with none above it says there is no likely match."""
    cols = []
    for col in candidate_columns(matches):
        rows = []
        for c, likely in col.rows:
            thumb = c.get("thumbnail")
            img = f'<img src="{base}/files/{_u(thumb)}" alt="">' if thumb else "<span></span>"
            weak = likely is False
            verdict = (f'<div class="likely">{LIKELY_TEXT}</div>' if likely else
                       f'<div class="weak-note">{weak_lead_text(same_threshold)}</div>' if weak else "")
            rows.append(f'<div class="cand{" weak" if weak else ""}">{img}<div><div class="nm">{c["rank"]}. '
                        f'{_e(c["name"])}</div><div class="sim">similarity {float(c["similarity"]):.3f}</div>'
                        f'{verdict}</div></div>')
        head = f'<div class="nomatch">{no_match_text(same_threshold)}</div>' if col.none_likely else ""
        cols.append(f'<div class="gcol" data-probe="{col.key}"><h4>{_e(col.title)}</h4><div class="sub">{_e(col.sub)}</div>'
                    f'{head}{"".join(rows) or "<div class=sub>the gallery is empty</div>"}</div>')
    return f'<h3 style="margin-top:16px">Gallery candidates</h3><div class="gallery">{"".join(cols)}</div>'


def _lead(word: str, c: dict[str, Any], same_threshold: float | None) -> str:
    """One line about the best candidate of a probe: a likely match, or only the nearest person
    (below the threshold, or with no calibrated threshold to judge it)."""
    name, sim = _e(c["name"]), f"{float(c['similarity']):.2f}"
    if c.get("likely_same_person"):
        return f'<div class="who">{word}: <b>{name}</b> <span class="muted">{sim} · {LIKELY_TEXT}</span></div>'
    if c.get("likely_same_person") is False:
        return (f'<div class="who weak">{word}: no likely match; <span class="muted">nearest: {name} {sim} '
                f'({below(same_threshold)})</span></div>')
    return f'<div class="who">{word}: <span class="muted">nearest: {name} {sim} (no calibrated threshold)</span></div>'


def _overview(faces: list[dict[str, Any]], threshold: float, video: bool, same_threshold: float | None = None) -> str:
    """Table of every face, highest fake score first (as report.html's "At a glance"): score and the
    best gallery candidate for source and target, each linking to its card."""
    rows = []
    for i in by_score(faces):
        f = faces[i]
        s = float(f["score_fake"])
        who = []
        for probe in ("source", "target"):
            c = ((f.get("gallery") or {}).get(probe) or [None])[0]
            if c:
                who.append(_lead(probe, c, same_threshold))
        score = _score(s, threshold)
        if video and "score_fake_max" in f:  # a track's score is its frames' mean: a swap in a few frames hides in it
            score += f'<div class="small muted">worst frame {_score(float(f["score_fake_max"]), threshold)}</div>'
        rows.append(f'<tr><td><a href="#face-{i + 1}">{_e(f.get("label", f"Face {i + 1}"))}</a></td>'
                    f'<td>{score}</td><td>{"".join(who) or "<span class=muted>–</span>"}</td></tr>')
    head = ("<tr><th>" + ("Track" if video else "Face") + "</th><th>Fake score" + (" (mean over its frames)" if video else "")
            + "</th><th>Gallery</th></tr>")
    title = ("Tracked faces" if video else "Faces") + (", highest fake score first" if len(faces) > 1 else "")
    return f'<div><h3>{title}</h3><table id="face-table">{head}{"".join(rows)}</table></div>'


def _face_card(base: str, face: dict[str, Any], threshold: float, frame_img: str = "",
               same_threshold: float | None = None) -> str:
    files = face.get("files", {})
    s = float(face["score_fake"])
    cls = verdict(s, threshold)
    figs = "".join(
        f'<figure class="{c}"><img src="{base}/files/{_u(files[k])}" alt="{_e(cap)}"><figcaption>{_e(cap)}</figcaption></figure>'
        for k, cap, c in (("forgery", "Face in the picture", ""), ("overlay", "Map of the pasted identity", ""),
                          ("source", "Recovered source", "src"), ("target", "Recovered target", "tgt"))
        if files.get(k))
    kv = [
        ("Fake score", f"{s:.3f} (model's probability of a face swap; ≥ {threshold:.2f} = {VERDICT_TEXT['fake']})"),
        ("Identity similarity, face vs recovered target", _fmt(face.get("idsim_forgery_vs_recovered_target"))),
        ("Identity similarity, recovered source vs target", _fmt(face.get("idsim_recovered_source_vs_target"))),
        ("Identity distance, face vs recovered target",
         _fmt(face.get("l2_forgery_vs_recovered_target")) + (" (dlib: same person below 0.6)")),
        ("Identity distance, recovered source vs target",
         _fmt(face.get("l2_recovered_source_vs_target")) + (" (dlib: same person below 0.6)")),
        ("Detector confidence", _fmt(face.get("detection_score"), 2)),
    ]
    kv += face_geometry_rows(face)
    if "n_frames" in face:
        kv.insert(1, ("Frames with this face", f"{face['n_frames']} · fake score min {face['score_fake_min']:.3f}, "
                                              f"max {face['score_fake_max']:.3f} (mean above)"))
        kv.insert(2, ("Pictures from frame", f"#{face['representative_frame']} at {face['representative_time']:.2f} s"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in kv)
    gallery = _candidates(base, face["gallery"], same_threshold) if face.get("gallery") is not None else ""
    anchor = _e(str(face.get("label", "face")).lower().replace("track", "face").replace(" ", "-"))
    caveats = "".join(f'<p class="caveat face-caveat"><b>{CAVEAT_LEAD}</b> {_e(c)}</p>' for c in caveat_sentences(face))
    return (f'<div class="card face" id="{anchor}" data-score="{s:.6f}"><div class="facehead"><h3>{_e(face.get("label", "Face"))}</h3>'
            f'<span class="score {cls}">{s:.2f}</span><span class="badge {cls}">'
            f'{VERDICT_TEXT[cls]}</span></div>{caveats}{frame_img}'
            f'<div class="strip">{figs}</div><dl class="kv">{dl}</dl>{gallery}</div>')


def results_page(job: dict[str, Any], inp: dict[str, Any], result: dict[str, Any], previews: list[str],
                 status: str) -> str:
    jid, n = job["id"], inp["n"]
    base = f"/jobs/{_u(jid)}/inputs/{n}"
    thr = float(result.get("settings", {}).get("fake_threshold", FAKE_THRESHOLD))
    faces = result.get("faces", [])
    info = result["input"]
    w, h = int(info.get("width") or 1), int(info.get("height") or 1)
    top = max((float(f["score_fake"]) for f in faces), default=0.0)
    video = info.get("kind") == "video"
    gal = result.get("gallery")
    same = (gal or {}).get("likely_same_person")
    same_thr = float(same["threshold"]) if same else None
    overview = _overview(faces, thr, video, same_thr)
    if not video and "preview.jpg" in previews:
        dw = int(min(540 / w, 560 / h) * w)  # shown size: fills the column, tall pictures at most 560 px high
        picture = (f'<div class="card overview"><div><div class="pic" style="width:{dw}px">'
                   f'<img src="{base}/preview/preview.jpg" '
                   f'alt="the picture with every face boxed">{_boxes_svg(faces, w, h, thr)}</div>'
                   f'<p class="small muted">Every face found, numbered from the largest (red: {VERDICT_TEXT["fake"]}, '
                   f'green: {VERDICT_TEXT["real"]}).</p></div>{overview}</div>')
    elif video and (result.get("overview") or {}).get("file"):  # the report's frame with the tracks numbered
        ov = result["overview"]
        picture = (f'<div class="card overview"><div><div class="pic">'
                   f'<img src="{base}/files/{_u(ov["file"])}" alt="{_e(ov.get("caption", ""))}"></div>'
                   f'<p class="small muted">{_e(ov.get("caption", ""))} (red: {VERDICT_TEXT["fake"]}, '
                   f'green: {VERDICT_TEXT["real"]}, by the track’s mean).</p></div>{overview}</div>')
    else:
        picture = f'<div class="card">{overview}</div>'

    cards = []
    for i, f in enumerate(faces):
        frame = ""
        if video and f"track{i + 1}.jpg" in previews:
            frame = (f'<div class="pic" style="margin-bottom:10px"><img src="{base}/preview/track{i + 1}.jpg" '
                     f'alt="frame of this track">{_boxes_svg([f], w, h, thr)}</div>')
        cards.append(_face_card(base, f, thr, frame, same_thr))
    what = "tracked face" if video else "face"
    model = (result.get("model") or {}).get("training") or {}
    val = model.get("validation") or {}
    model_warn = ""
    caveat = target_caveat(val)
    if caveat:
        model_warn = f" <b>{_e(caveat)}</b> (held-out validation): treat them as a rough visualisation."
    notes = "".join(f'<div class="card caveat result-note"><b>Note.</b> {_e(note)}</div>'
                    for note in result.get("notes", []))  # as report.html shows them
    gal_note = ""
    if gal:
        gal_note = (f'<div class="card small">Gallery: {_e(gal["photos"])} photos of {_e(gal["persons"])} people. '
                    "A candidate's similarity is the identity similarity of the face and that person's most similar "
                    "photo." + (f" <b>Likely the same person</b> = similarity ≥ {same_thr:.3f}: a "
                                f"false-match rate of {float(same['false_match_rate']):g} per photo compared "
                                f"(about {about(same['expected_chance_matches_per_search'])} chance matches per "
                                "search in this gallery); calibrated on LFW validation identities. Below it a "
                                "candidate is only the nearest person in the gallery, not a likely match."
                                if same else "")
                    + " A candidate is a lead to check, never an identification.</div>")
    body = f"""
<div class="crumbs"><a href="/cases">Cases</a> › <a href="/jobs/{_u(jid)}">case <code>{_e(jid[:8])}</code></a> › {_e(inp['name'])}</div>
<h1 id="result-title">{_e(inp['name'])}</h1>
<div class="row"><span class="lead" style="margin:0">{len(faces)} {what}{'s' if len(faces) != 1 else ''} analysed · highest fake score</span>
{_score(top, thr)}</div>
<div class="row downloads" style="margin-top:12px">
<a class="btn" id="download-report" href="{base}/report.html?download=1">Download report.html</a>
<a class="btn ghost" id="download-json" href="{base}/result.json?download=1">result.json</a>
<a class="btn ghost" id="download-zip" href="{base}/all.zip">Everything (zip)</a>
<a class="btn ghost" href="{base}/report.html" target="_blank" rel="noopener">Open the report</a></div>
<div class="card caveat"><b>Read this first.</b> {_e(CAVEAT)}{model_warn}</div>
{notes}
{gal_note}
{picture}
{''.join(cards)}
<p class="small muted">Input SHA-256 <code>{_e(info.get('sha256'))}</code> · {w}×{h} px · analysed {_e(result.get('created_utc'))}
with dfrec {_e(result.get('dfrec_version'))}. Every output file is listed with its hash in result.json.</p>
<details class="provenance" id="provenance"><summary>Provenance: hashes of the input, the model, dlib's files and every output;
software, threads and settings</summary>{provenance_html(result)}</details>"""
    return page(inp["name"], body, "cases", status)


def message_page(title: str, text: str, status: str = "", code_hint: str = "") -> str:
    body = f'<h1>{_e(title)}</h1><div class="card">{_e(text)}</div>{code_hint}<p><a href="/">← New case</a></p>'
    return page(title, body, "", status)
