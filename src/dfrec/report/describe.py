"""What an input file is, in words: the rows a report's provenance shows of it (report.html, the web
app's result page) and ``dfrec inspect`` prints, from a ``result.json`` ``input`` record.

Plain text: the HTML escapes it, the console prints it as it is.
"""

from __future__ import annotations

from typing import Any

from dfrec.content_credentials import credentials_words
from dfrec.encoder_settings import encoder_words
from dfrec.results import LOSSY_CODECS

#: The row of what a file's metadata says.
METADATA_LABEL = "Metadata in the file (what it claims; anyone can edit it)"
#: What the metadata row says of a file with none, per input kind.
NO_METADATA = {
    "image": "none (camera, software and date tags are often stripped by the sites that pass pictures on)",
    "video": "none (the muxer's and the phone's tags are often stripped by the sites that pass videos on)",
    None: "none",
}
#: The Content Credentials row's label, and what it says of a file with none.
CREDENTIALS_LABEL = "Content Credentials (C2PA)"
NO_CREDENTIALS = "none in the file (most files carry none; a re-save, a screenshot or an upload to most sites drops them)"


def quantiser_words(codec: str, profile: Any, quantiser: str, qp: float, where: str, top: int,
                    median: bool = True) -> str:
    """``H.264, High profile, a median quantiser (QP) of 28<where>; 0-51, higher is coarser``: how a
    video's frames or a HEIF photo's tiles were quantised, in one wording for both (``where``: ``" over
    50 of its frames' slice headers"``, ``", from its slice header"``)."""
    profile = str(profile)
    profile = profile if profile.lower().startswith("profile") else f"{profile} profile"
    return (f"{codec}, {profile}, a {'median ' if median else ''}quantiser ({quantiser}) of {qp:g}{where}; "
            f"0-{top}, higher is coarser")


def video_encoding_text(enc: dict) -> str:
    """`` (H.264, High profile, a median quantiser (QP) of 28 over 50 of its frames' slice headers;
    0-51, higher is coarser)`` from a result's ``input.video_encoding`` (:func:`dfrec.hevc.read_video_encoding`;
    records written before VP9 was read name no quantiser: QP, 0-51), with ``by x264 core 164 at CRF 23
    (its settings, written into the stream)`` after the codec where the stream states them; ``""`` for none."""
    if not enc:
        return ""
    quantiser = enc.get("quantiser", "QP")
    # VP9 and AV1 count every coded frame, hidden reference frames too, so not "of its frames"
    where = "of its frames' slice headers" if quantiser == "QP" else "coded frames' headers"
    words = quantiser_words(LOSSY_CODECS.get(enc.get("codec"), str(enc.get("codec")).upper()), enc.get("profile"),
                            quantiser, enc["qp"], f" over {enc['frames_read']} {where}", enc.get("quantiser_max", 51))
    if enc.get("encoder"):  # results since report format 14: what x264 or x265 wrote into the stream
        codec, _, rest = words.partition(", ")
        words = f"{codec} by {encoder_words(enc['encoder'])} (its settings, written into the stream), {rest}"
    return f" ({words})"


def _video_row(inp: dict[str, Any], sampled_fps: float | None) -> str:
    codec = f"codec {inp['codec']}" if inp.get("codec") else ""
    if inp.get("container"):  # results since report format 13
        codec = f"{inp['container']}{', ' if codec else ''}{codec}"
    turn = (f"; frames turned {inp['rotation']}° clockwise for display, as the file asks"
            if inp.get("rotation") else "")
    qp = video_encoding_text(inp.get("video_encoding") or {})
    sampled = (f", {inp.get('frames_sampled')} sampled at {sampled_fps} fps"
               if inp.get("frames_sampled") is not None else "")
    return f"{codec}{qp}{', ' if codec or qp else ''}{inp.get('fps'):.2f} fps, {inp.get('frame_count')} frames{sampled}{turn}"


def _image_row(inp: dict[str, Any]) -> str:
    frames = inp.get("frames_in_file") or 1
    jq, wq = inp.get("jpeg_quality") or {}, inp.get("webp_encoding") or {}
    saved = ((f" (last saved at quality {jq['quality']}: libjpeg's standard tables)" if jq.get("standard_tables")
              else f" (last saved with tables of its own, nearest libjpeg's at quality {jq['quality']})")
             if jq else "")
    if wq:
        saved = (" (lossless)" if wq.get("lossless") else
                 f" (lossy, at about libwebp's quality {wq.get('quality')}, from its VP8 quantisers)")
    if hq := inp.get("heif_encoding") or {}:
        hevc = hq.get("codec", "hevc") == "hevc"
        header = "slice header" if hevc else "frame header"
        grid = hq.get("tiles", 1) > 1
        saved = " (" + quantiser_words("HEVC" if hevc else "AV1", hq.get("profile"), hq.get("quantiser", "QP"),
                                       hq["qp"], f" over its {hq['tiles_read']} tiles' {header}s" if grid
                                       else f", from its {header}", hq.get("quantiser_max", 51), median=grid) + ")"
    if inp.get("jpeg_history"):
        saved += (f"; its pixels hold the 8 × 8 blocks of an earlier JPEG save at about quality "
                  f"{inp['jpeg_history']['quality']}")
    return (f"{inp['format']}{saved}; read as {inp.get('decoding')}"
            + (f"; the first of its {frames} frames or pages" if frames > 1 else ""))


def input_rows(inp: dict[str, Any], sampled_fps: float | None = None) -> list[tuple[str, str | dict[str, str]]]:
    """``[(label, value), ...]``: how a ``result.json`` ``input`` was encoded ("Video" or "Input
    format"), what its metadata says (a ``{name: text}`` dict: the caller lays it out, and says
    :data:`NO_METADATA` of an empty one) and its Content Credentials, as far as the record holds
    them (records of older report formats hold less); ``sampled_fps``: the rate a video was sampled at."""
    rows: list[tuple[str, str | dict[str, str]]] = []
    if inp.get("kind") == "video":
        rows.append(("Video", _video_row(inp, sampled_fps)))
        if "metadata" in inp:  # results since report format 14
            rows.append((METADATA_LABEL, inp["metadata"] or {}))
    elif inp.get("format"):  # results before report format 6 do not say
        rows.append(("Input format", _image_row(inp)))
        rows.append((METADATA_LABEL, inp.get("metadata") or {}))
    if "content_credentials" in inp:  # results since report format 14
        cc = inp["content_credentials"]
        rows.append((CREDENTIALS_LABEL, credentials_words(cc) if cc else NO_CREDENTIALS))
    return rows
