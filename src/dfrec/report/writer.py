"""Writing one input's report folder: PNGs, ``report.html`` and ``result.json``.

Layout of a folder (``N`` = face number from 1, ``face`` becomes ``track`` for videos)::

    face1_forgery.png   face1_source.png   face1_target.png   face1_map.png   face1_overlay.png
    frame_source.png    frame_target.png   (video: track1_frame_source.png, track1_frame_target.png)
    faces_found.jpg     (image: the picture, downscaled, every face boxed and numbered)
    report.html         result.json
    face1_gallery_source_1.jpg ...   (with a gallery: thumbnails of the candidates, per probe and rank)

Every file is written atomically (:mod:`dfrec.io`). ``result.json`` is written last and
lists the size and SHA-256 of every other file in the folder (``report.html`` included),
of the input and of every file of the model checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dfrec import __version__
from dfrec.compression import jpeg_history
from dfrec.content_credentials import (credentials_note, declared_source_note, generator_text_note,
                                      read_content_credentials)
from dfrec.encoder_settings import software_encoder_note
from dfrec.hevc import read_video_encoding
from dfrec.io import decoding_words, image_header, sniff_file, write_image, write_json_atomic, write_text_atomic
from dfrec.report.gallery import gallery_matches, gallery_record
from dfrec.report.html import render_report
from dfrec.report.overview import overview_image
from dfrec.report.provenance import environment, file_record, utc_now
from dfrec.results import FAKE_THRESHOLD, FaceRecovery, ImageRecovery, VideoRecovery, lossy_save
from dfrec.video import VideoInfo
from dfrec.video_metadata import video_metadata

FACE_IMAGES = ("forgery", "source", "target", "map", "overlay")
#: The picture with every face boxed and numbered (image reports).
OVERVIEW_FILE = "faces_found.jpg"
#: Version of a result folder's layout (the files written, the keys of ``result.json``). Raise it
#: whenever a report gains or changes a file or a key: it is part of the resume key, so a rerun
#: redoes results in an older layout instead of keeping them.
#: 14: an H.264 or HEVC video's ``video_encoding`` gained ``encoder``, the settings x264 or x265 wrote
#: into the stream (its CRF ...), and the caveat of an x264 or x265 video goes by the CRF they state;
#: a video's ``input`` gained ``metadata``, what its container says made it, and its ``notes`` say where
#: its stream was encoded by such software (under a phone's name, that the two disagree); every
#: ``input`` gained ``content_credentials``, its C2PA manifest checked, and a note where it declares a
#: generative model's part or fails its check (2026-12-07);
#: 13: a video's ``input`` gained ``container``, what its first bytes say it is (``"MPEG transport
#: stream video"`` ...), and a transport stream's H.264 or HEVC ``video_encoding`` (2026-12-07); 12: a HEIC or AVIF
#: photo's ``input`` gained ``heif_encoding`` (its HEVC tiles' QP, its AV1 base_q_idx) and its faces the ``heic_compressed`` or
#: ``avif_compressed`` caveat (2026-12-07);
#: 11: an AV1 video's ``input`` gained
#: ``video_encoding`` (its frames' base_q_idx) and its tracks the ``av1_compressed`` caveat
#: (2026-12-07); 10: a VP9 video's ``input`` gained
#: ``video_encoding`` too (its frames' base_q_idx) and its tracks the ``vp9_compressed`` caveat, and
#: every ``video_encoding`` names its ``quantiser`` and ``quantiser_max`` (2026-12-07); 9: an H.264 or HEVC video's ``input``
#: gained ``video_encoding`` (its frames' slice QPs) and its tracks the ``h264_compressed`` or
#: ``hevc_compressed`` caveat (2026-12-07); 8: a WebP's ``input`` gained
#: ``webp_encoding`` (lossless, or lossy at about which quality, from its VP8 header) and its faces
#: the ``webp_compressed`` caveat; ``jpeg_history`` where the pixels of another format (PNG, TIFF
#: ...) hold a JPEG save's blocks, or a JPEG's those of an earlier save at a lower quality;
#: ``jpeg_compressed`` also where the re-encoding weakens the recovered target, not only the fake
#: score (2026-12-07); 7: a JPEG's ``input`` gained
#: ``jpeg_quality`` (the quality it was last saved at, from its tables) and its faces the
#: ``jpeg_compressed`` caveat where that quality weakens the fake score (2026-12-07); 6: ``input`` gained an image's
#: ``format``, ``mode``, ``exif_orientation``, ``frames_in_file``, ``decoding`` (how it was
#: read as 8-bit RGB) and ``metadata`` (camera, software, dates, text chunks), and a video's
#: ``codec`` and ``rotation`` (2026-12-06); 5: ``settings`` gained
#: ``paste_interpolation`` (Lanczos-4 since 2026-12-06, bilinear before), a composed target is
#: pasted back by its weight, so ``frame_target.png`` keeps the picture's pixels outside the map,
#: and the source by the region the SIRM saw (2026-12-06); 4: ``settings`` gained ``crop_enlarge``,
#: the interpolation that enlarges a face smaller than the crop (Lanczos-4 since 2026-12-06, bilinear
#: before: a rerun redoes older results, whose crops differ); 3: faces gained ``eye_distance_px``,
#: ``crop_scale``, ``head_pose_deg`` and ``caveats`` (2026-12-06); 2: video reports gained ``faces_found.jpg``
#: (2026-12-05); 1 (or no ``report_format``): before.
REPORT_FORMAT = 14


def save_face_images(folder: Path, prefix: str, rec: FaceRecovery) -> dict[str, str]:
    """Write a face's crops, map and overlay as PNGs; returns ``{name: file name}``."""
    images = rec.images()
    files = {}
    for name in FACE_IMAGES:
        fname = f"{prefix}_{name}.png"
        write_image(folder / fname, images[name])
        files[name] = fname
    return files


def _input_record(path: Path, kind: str, width: int, height: int) -> dict[str, Any]:
    """The input file: where, what (hash, size) and, for an image, what it is, how it was
    decoded and what its metadata says (``format``, ``mode``, ``exif_orientation``,
    ``frames_in_file``, ``decoding``, ``metadata``; a JPEG's ``jpeg_quality``, a WebP's
    ``webp_encoding``, a HEIC's or AVIF's ``heif_encoding``), and for either kind its C2PA
    ``content_credentials`` (:func:`dfrec.content_credentials.read_content_credentials`; ``None``
    for none)."""
    rec = file_record(path)
    out = {"path": str(path.resolve()), "name": path.name, "kind": kind, "bytes": rec["bytes"],
           "sha256": rec["sha256"], "width": int(width), "height": int(height)}
    if kind == "image":
        header = image_header(path)
        if header:
            out.update(format=header["format"], mode=header["mode"], exif_orientation=header["exif_orientation"],
                       frames_in_file=header["frames"], decoding=decoding_words(header), metadata=header["metadata"])
            for key in ("jpeg_quality", "webp_encoding", "heif_encoding"):
                if key in header:
                    out[key] = header[key]
    out["content_credentials"] = read_content_credentials(path)
    return out


def video_container(path: str | os.PathLike) -> str | None:
    """What kind of file a video is, from its first bytes (:func:`dfrec.io.sniff`'s label: ``"MP4
    video"``, ``"MPEG transport stream video (M2TS)"`` ...); ``None`` where they name none dfrec knows."""
    sniffed = sniff_file(path)
    return sniffed.label if sniffed is not None and sniffed.kind == "video" else None


def _finish(folder: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Render report.html, hash every output, write result.json; returns the result dict."""
    result["outputs"] = [file_record(p, folder) for p in sorted(folder.iterdir())
                         if p.is_file() and p.name not in ("report.html", "result.json") and not p.name.startswith(".")]
    write_text_atomic(folder / "report.html", render_report(result, folder))
    result["outputs"].append(file_record(folder / "report.html", folder))
    write_json_atomic(folder / "result.json", result)
    return result


def result_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The ``settings`` a result records: the fake threshold, how a face smaller than the crop
    is enlarged to it (``crop_enlarge``) and how recovered crops go back into the picture
    (``paste_interpolation``), then the run's own settings."""
    from dfrec.faces.align import ENLARGE_INTERPOLATION, PASTE_INTERPOLATION, interpolation_name

    return {"fake_threshold": FAKE_THRESHOLD, "crop_enlarge": interpolation_name(ENLARGE_INTERPOLATION),
            "paste_interpolation": interpolation_name(PASTE_INTERPOLATION), **settings}


def base_result(settings: dict[str, Any], model_info: dict[str, Any]) -> dict[str, Any]:
    """The fields shared by every result: version, report format, time, settings, environment (of the device
    named by ``settings["device"]``), model (:func:`dfrec.report.provenance.model_record`)."""
    return {
        "dfrec_version": __version__,
        "report_format": REPORT_FORMAT,
        "created_utc": utc_now(),
        "settings": result_settings(settings),
        "environment": environment(settings.get("device")),
        "model": model_info,
    }


def _face_entry(folder: Path, prefix: str, label: str, entry: dict[str, Any], face: FaceRecovery,
                gallery: Any, top_k: int) -> dict[str, Any]:
    """One face's (or track's) record: its JSON ``entry``, label, image files and gallery candidates."""
    entry["label"] = label
    entry["files"] = save_face_images(folder, prefix, face)
    if gallery is not None:
        entry["gallery"] = gallery_matches(folder, prefix, face.embeddings, gallery, top_k)
    return entry


def _frame(folder: Path, fname: str, image: np.ndarray, caption: str) -> dict[str, str]:
    """Write one pasted-back frame; returns its record for ``result["frames"]``."""
    write_image(folder / fname, image)
    return {"caption": caption, "file": fname}


def image_input(path: str | os.PathLike, image: np.ndarray) -> tuple[dict[str, Any], list[str], tuple | None]:
    """What an image report records of the input file at ``path`` (decoded as ``image``, ``(H, W, 3)``
    uint8 RGB): its ``input`` record (:func:`_input_record`, and ``jpeg_history`` where the pixels
    hold an earlier, coarser JPEG save than the file says), the notes on the file (several frames or
    pages; Content Credentials, an XMP label or a generator's text that declare how it was made), and
    the lossy save its caveats go by (:func:`dfrec.results.lossy_save`)."""
    record = _input_record(Path(path), "image", image.shape[1], image.shape[0])
    notes = []
    frames = record.get("frames_in_file", 1)
    if frames > 1:
        notes.append(f"This file holds {frames} frames or pages (an animation or a multi-page file); only the "
                     "first was analysed.")
    notes += [n for n in (credentials_note(record["content_credentials"]),
                          declared_source_note(record.get("metadata"), record["content_credentials"]),
                          generator_text_note(record.get("metadata"))) if n is not None]
    saved = lossy_save(record)
    if (record.get("webp_encoding") or {}).get("lossless") is not False:
        # a PNG (TIFF, lossless WebP ...) of a JPEG keeps that JPEG's blocks, and a JPEG saved again at
        # a higher quality its earlier save's: the caveat reads them from the pixels (results.lossy_save)
        history = jpeg_history(image)
        if history is not None and (found := lossy_save({**record, "jpeg_history": history})) != saved:
            record["jpeg_history"], saved = history, found  # kept where it changes what the caveat goes by
    return record, notes, saved


def video_input(path: str | os.PathLike, info: VideoInfo, frames_sampled: int | None = None,
                frames_with_faces: int | None = None) -> tuple[dict[str, Any], list[str], tuple | None]:
    """What a video report records of the input file at ``path`` (:class:`dfrec.video.VideoInfo`
    ``info``): its ``input`` record (container, codec, rotation, fps, frames; the quantiser and encoder
    settings its stream states, ``video_encoding``; what its container says made it, ``metadata``;
    its Content Credentials; and, from an analysis, ``frames_sampled`` and ``frames_with_faces``), the
    notes on the file, and the lossy save its caveats go by."""
    record = _input_record(Path(path), "video", info.width, info.height)
    record.update(container=video_container(path), codec=info.codec, rotation=info.rotation, fps=info.fps,
                  frame_count=info.frame_count)
    if frames_sampled is not None:
        record.update(frames_sampled=frames_sampled, frames_with_faces=frames_with_faces)
    if (encoding := read_video_encoding(path)) is not None:
        record["video_encoding"] = encoding
    record["metadata"] = video_metadata(path)
    notes = [n for n in (credentials_note(record["content_credentials"]),
                         software_encoder_note((encoding or {}).get("encoder"), record["metadata"])) if n is not None]
    return record, notes, lossy_save(record)


def write_image_report(
    folder: str | os.PathLike,
    input_path: str | os.PathLike,
    recovery: ImageRecovery,
    settings: dict[str, Any],
    model_info: dict[str, Any],
    gallery: Any = None,
    top_k: int = 5,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the report folder of one image from its :class:`~dfrec.results.ImageRecovery`.

    ``settings``: the run's settings (recorded, and part of the resume key); ``model_info``:
    :func:`dfrec.report.provenance.model_record` of the model. With a ``gallery``
    (:class:`dfrec.gallery.Gallery`), every face also lists the ``top_k`` most similar known
    people for its recovered source and target. ``notes``: what else the reader must know about
    the analysis; a file of several frames or pages adds that only its first was analysed.
    Shown in report.html and kept in ``result.json``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    image = recovery.image
    result = base_result(settings, model_info)
    result["input"], file_notes, saved = image_input(input_path, image)
    notes = [*notes, *file_notes]
    if notes:
        result["notes"] = list(notes)
    result["faces"] = [_face_entry(folder, f"face{i + 1}", f"Face {i + 1}", face.to_dict(saved), face, gallery, top_k)
                       for i, face in enumerate(recovery.faces)]
    if gallery is not None:
        result["gallery"] = gallery_record(gallery, top_k)
    frames = []
    if recovery.faces:
        frames = [_frame(folder, "frame_source.png", recovery.source_frame, "Recovered source faces pasted back"),
                  _frame(folder, "frame_target.png", recovery.target_frame, "Recovered target faces pasted back")]
    result["frames"] = frames
    if recovery.faces:
        result["overview"] = _overview(folder, image, recovery.faces)
    return _finish(folder, result)


def _overview(folder: Path, image: np.ndarray, faces: Sequence[FaceRecovery]) -> dict[str, Any]:
    """Write :data:`OVERVIEW_FILE` (:func:`dfrec.report.overview.overview_image`); returns its record."""
    boxes = np.stack([np.asarray(f.box, np.float64) for f in faces])
    pic = overview_image(image, boxes, np.array([f.score_fake for f in faces]), FAKE_THRESHOLD)
    write_image(folder / OVERVIEW_FILE, pic, quality=90)
    return {"file": OVERVIEW_FILE, "width": int(pic.shape[1]), "height": int(pic.shape[0]),
            "caption": "The picture with every face found, boxed and numbered as in this report (largest first)"}


def _worst_frame(entry: dict[str, Any]) -> dict[str, Any]:
    """A track's entry with the frame of its highest fake score (``score_fake_max_frame``,
    ``score_fake_max_time``): the track's ``score_fake`` is the mean over its frames, so a swap
    in a few frames shows here, not there."""
    worst = max(entry["frames"], key=lambda f: f["score_fake"])
    entry["score_fake_max_frame"] = worst["frame"]
    entry["score_fake_max_time"] = worst["time"]
    return entry


def write_video_report(
    folder: str | os.PathLike,
    input_path: str | os.PathLike,
    video: VideoRecovery,
    settings: dict[str, Any],
    model_info: dict[str, Any],
    gallery: Any = None,
    top_k: int = 5,
) -> dict[str, Any]:
    """Write the report folder of one video from its :class:`~dfrec.results.VideoRecovery`: per
    track, its representative frame's faces (and gallery candidates, as :func:`write_image_report`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = base_result(settings, model_info)
    result["input"], notes, saved = video_input(input_path, video.info, video.frames_sampled, video.frames_with_faces)
    if notes:
        result["notes"] = notes
    faces, frames = [], []
    for i, tr in enumerate(video.tracks):
        faces.append(_face_entry(folder, f"track{i + 1}", f"Track {i + 1}", _worst_frame(tr.to_dict(saved)), tr.face,
                                 gallery, top_k))
        for which in ("source", "target"):
            frames.append(_frame(folder, f"track{i + 1}_frame_{which}.png", getattr(tr.face, f"{which}_frame"),
                                 f"Track {i + 1}: recovered {which} pasted into frame #{tr.frame_index}"))
    result["faces"] = faces
    result["frames"] = frames
    if gallery is not None:
        result["gallery"] = gallery_record(gallery, top_k)
    if video.busiest_frame is not None and video.tracks:
        result["overview"] = _video_overview(folder, video)
    return _finish(folder, result)


def _video_overview(folder: Path, video: VideoRecovery) -> dict[str, Any]:
    """Write :data:`OVERVIEW_FILE` for a video: the sampled frame with the most faces, each
    face tagged with its track's number and boxed in its track's verdict colour (the mean over
    its frames, as in the report); returns its record (``frame``, ``time``, ``tracks`` shown)."""
    idx = video.busiest_frame_index
    shown = [(i + 1, rec["box"], tr.score_fake) for i, tr in enumerate(video.tracks)
             for rec in tr.frames if rec["frame"] == idx]
    boxes = np.array([b for _, b, _ in shown], np.float64).reshape(-1, 4)
    pic = overview_image(video.busiest_frame, boxes, np.array([s for _, _, s in shown]), FAKE_THRESHOLD,
                         labels=[str(n) for n, _, _ in shown])
    write_image(folder / OVERVIEW_FILE, pic, quality=90)
    numbers = [n for n, _, _ in shown]
    missing = len(video.tracks) - len(numbers)
    caption = (f"Frame #{idx} at {video.busiest_frame_time:.2f} s, the sampled frame with the most faces: "
               f"track{'s' if len(numbers) != 1 else ''} {', '.join(map(str, numbers))} boxed and numbered as in "
               f"this report" + (f" ({missing} other track{'s' if missing != 1 else ''} not in this frame)"
                                 if missing else ""))
    return {"file": OVERVIEW_FILE, "width": int(pic.shape[1]), "height": int(pic.shape[0]), "caption": caption,
            "frame": int(idx), "time": round(float(video.busiest_frame_time), 3), "tracks": numbers}
