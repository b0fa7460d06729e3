"""``dfrec recover``: recover source and target faces in images, folders and videos, with reports."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from dfrec._faults import crashpoint
from dfrec.cli.args import ranged, seed, device_name
from dfrec.errors import DfrecError, InputError, NoFaceError, describe, shown
from dfrec.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, media_kind, scan_folder

DEFAULT_OUTPUT = "dfrec_results"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recover",
        help="recover the source and target faces behind a face swap (images, folders, videos) and write reports",
        description=(
            "For every face in each INPUT (an image, a folder searched recursively, or a video: "
            ".mp4/.mov/.mkv/.webm/.avi/.ts/.m2ts/.mpg/...; a file is what its bytes say) write the aligned "
            "face, the recovered source and target faces, the identity map, a fake score, the faces pasted "
            "back into the picture, a self-contained report.html and a result.json with SHA-256 hashes; "
            "summary.html/summary.json index every result in OUT. Inputs that cannot be processed are listed "
            "at the end; the exit status is non-zero only when none could be processed (see 'dfrec --help' "
            "for the codes). A rerun skips inputs already done with the same input, settings and model "
            "(--force redoes them); an interrupted run leaves no partial result and resumes where it stopped."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder or video file")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="OUT",
                   help=f"output folder (default: ./{DEFAULT_OUTPUT})")
    p.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="checkpoint folder (config.json + safetensors), e.g. a converted official model; "
                        "default: the model bundled with dfrec")
    p.add_argument("--device", default="auto", type=device_name, help="auto (CUDA if present), cpu, cuda, cuda:1, ... (default: auto)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.add_argument("--fps", type=ranged(float, 0, 1000), default=1.0,
                   help="frames per second of video time to analyse (0 = every frame; default: 1)")
    p.add_argument("--max-faces", type=ranged(int, 1, 1000), default=None, metavar="N",
                   help="analyse at most the N largest faces per image or frame")
    p.add_argument("--max-frames", type=ranged(int, 1, 10_000_000), default=None, metavar="N",
                   help="analyse at most N sampled frames per video")
    p.add_argument("--detection-threshold", type=ranged(float, -10, 10), default=None, metavar="T",
                   help="face detector score threshold (default: the detector's own, 0; raise it, e.g. 0.5, "
                        "to drop weak detections)")
    p.add_argument("--detection-upsample", type=ranged(int, 0, 2), default=None, metavar="N",
                   help="face detector upsamplings (default 1: faces down to ~40 px in a 1024-px picture; "
                        "0 is several times faster and finds faces from ~80 px)")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the model's random patch masking (results are reproducible per seed; default: 0)")
    p.add_argument("--gallery", default=None, metavar="G",
                   help="gallery folder (dfrec gallery add): list the known people most similar to every "
                        "recovered source and target, with a calibrated 'likely the same person' verdict")
    p.add_argument("--top-k", type=ranged(int, 1, 1000), default=5, metavar="K",
                   help="gallery candidates per face, 1-1000 (default 5)")
    p.add_argument("--force", action="store_true",
                   help="redo inputs whose result in OUT is already up to date (default: skip them)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


Item = tuple[Path, str, Path]  # (file, "image" | "video", result folder name relative to OUT)


def _assign_names(raw: list[tuple[Path, str, Path, str]]) -> list[Item]:
    """Unique result-folder names (case-insensitive) that never nest: a file is named by its
    stem (by ``<parent>_<stem>`` when files given singly share a stem); a name is never a
    folder on the way to another result (``in/a`` for ``in/a.png`` when ``in/a/b.png`` exists
    becomes ``in/a_png``), so replacing one result folder never touches another."""
    dirs = {anc.as_posix().lower() for _, _, name, _ in raw for anc in name.parents if anc != Path(".")}
    # files given one by one whose names clash (examples/a/forgery.png, examples/b/forgery.png)
    # all take their folder's name (a_forgery, b_forgery), whatever order they came in
    clash = Counter(name.as_posix().lower() for _, _, name, parent in raw if parent)
    used: set[str] = set()
    out: list[Item] = []

    def taken(c: Path) -> bool:
        key = c.as_posix().lower()
        return key in used or key in dirs

    for path, kind, name, parent in raw:
        cands = [name]
        folder = parent.lstrip(".")  # result folders are never hidden
        if folder:
            prefixed = name.with_name(f"{folder}_{name.name}")
            cands = [prefixed, name] if clash[name.as_posix().lower()] > 1 else [name, prefixed]
        cands.append(name.with_name(f"{name.name}_{path.suffix.lstrip('.').lower() or 'file'}"))
        free = [c for c in cands if not taken(c)]
        cand = free[0] if free else cands[-1]
        base, k = cand, 2
        while taken(cand):
            cand = base.with_name(f"{base.name}-{k}")
            k += 1
        used.add(cand.as_posix().lower())
        out.append((path, kind, cand))
    return out


def collect_inputs(inputs: list[str], out_dir: Path,
                   ignored: list[dict[str, str]] | None = None) -> tuple[list[Item], list[dict[str, str]]]:
    """Expand INPUT arguments into ``(file, kind, result folder name)`` triples and failures.

    Folders are searched recursively for image and video files (hidden files and anything
    inside ``out_dir`` are skipped; see :func:`dfrec.io.scan_folder`); files passed over are added to
    ``ignored`` when given, and so is a file reached a second time (given twice, through its folder
    and by name, or through a link). Result folder names are unique relative paths (:func:`_assign_names`).
    """
    out_abs = out_dir.resolve()
    ignored = [] if ignored is None else ignored
    raw: list[tuple[Path, str, Path, str]] = []
    failed: list[dict[str, str]] = []
    for arg in inputs:
        p = Path(arg)
        if p.is_symlink() and not p.exists():
            failed.append({"input": str(p), "reason": "broken symbolic link (its target is missing)"})
        elif p.is_dir():
            files = scan_folder(p, IMAGE_SUFFIXES + VIDEO_SUFFIXES, out_abs, failed, ignored)
            if not files:
                failed.append({"input": str(p), "reason": "folder holds no image or video files"})
            root_name = p.resolve().name.lstrip(".") or "input"  # result folders are never hidden
            for f in files:
                rel = f.relative_to(p)
                raw.append((f, media_kind(f), Path(root_name) / rel.with_suffix(""), ""))
        elif p.exists():
            stem = p.stem.lstrip(".") or "input"  # result folders are never hidden
            raw.append((p, media_kind(p), Path(stem), p.resolve().parent.name))
        else:
            failed.append({"input": str(p), "reason": "no such file or folder"})
    unique: dict[Path, tuple[Path, str, Path, str]] = {}
    for r in raw:  # one file reached twice (a folder and the file in it, a link): analysed once
        real = r[0].resolve()
        if real in unique:
            ignored.append({"input": str(r[0]), "reason": "the same file as an input before it"})
        else:
            unique[real] = r
    return _assign_names(list(unique.values())), failed


def _settings(args: argparse.Namespace, recoverer: Any) -> dict[str, Any]:
    """Every option that changes a result (they are part of the resume key)."""
    return {
        "fps": args.fps,
        "max_faces": args.max_faces,
        "max_frames": args.max_frames,
        "device": str(recoverer.device),
        "checkpoint": str(recoverer.checkpoint) if recoverer.checkpoint else None,
        "image_size": recoverer.image_size,
        "seed": recoverer.seed,
        "detection_threshold": args.detection_threshold,
        "detection_upsample": args.detection_upsample,
    }


def _key(input_sha256: str, settings: dict[str, Any], model_info: dict[str, Any],
         gallery_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resume key a new result of this input would have (see ``run_key``)."""
    from dfrec import __version__
    from dfrec.report.store import run_key
    from dfrec.report.writer import REPORT_FORMAT, result_settings

    result = {"input": {"sha256": input_sha256}, "settings": result_settings(settings),
              "model": model_info, "dfrec_version": __version__, "report_format": REPORT_FORMAT}
    if gallery_info is not None:
        result["gallery"] = gallery_info
    return run_key(result)


def recover_one(store: Any, recoverer: Any, item: Item, settings: dict[str, Any], model_info: dict[str, Any],
                args: argparse.Namespace, gallery: Any = None,
                gallery_info: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """Process one input into ``OUT/name`` as a unit; returns ``("done" | "new", result)``.

    ``done``: an up-to-date result was already there (same input hash, settings, model,
    gallery state; not with ``--force``). An earlier result that does not stand is replaced
    and the console says why (another input, other settings, files changed since). Raises
    :class:`DfrecError` for inputs that cannot be processed.
    """
    from dfrec.faces.detect import DEFAULT_UPSAMPLE, no_face_message
    from dfrec.io import read_image, sha256_file
    from dfrec.report.writer import write_image_report, write_video_report

    path, kind, name = item
    try:
        digest = sha256_file(path)
    except OSError as e:
        raise InputError(f"{shown(path)}: {describe(OSError(e.errno, e.strerror))}") from None
    key = _key(digest, settings, model_info, gallery_info)
    stale = None
    if not args.force:
        done, stale = store.lookup(name, key)  # the old folder's files are hashed once
        if done is not None:
            return "done", done
    store.check_replaceable(name)  # before the work, not after
    upsample = DEFAULT_UPSAMPLE if args.detection_upsample is None else args.detection_upsample
    if kind == "video":
        video = recoverer.recover_video(path, fps=args.fps, max_faces=args.max_faces,
                                        max_frames=args.max_frames, progress=not args.no_progress)
        if not video.tracks:
            raise NoFaceError(f"{shown(path)}: " + no_face_message(
                (video.info.height, video.info.width), upsample, option="--detection-upsample",
                frames=video.frames_sampled))
        with store.staged(name) as stage:
            result = write_video_report(stage, path, video, settings, model_info, gallery=gallery, top_k=args.top_k)
    else:
        recovery = recoverer.recover_image(read_image(path), max_faces=args.max_faces)
        if not recovery.faces:
            raise NoFaceError(f"{shown(path)}: " + no_face_message(recovery.image.shape, upsample,
                                                                   option="--detection-upsample"))
        with store.staged(name) as stage:
            result = write_image_report(stage, path, recovery, settings, model_info, gallery=gallery,
                                        top_k=args.top_k)
    if result["input"]["sha256"] != digest:
        raise InputError(f"{shown(path)}: the file changed while it was being processed; run again")
    if stale is not None:
        from tqdm import tqdm

        tqdm.write(f"dfrec: {shown(store.root / name)}: replaced the result that was there: {stale}", file=sys.stderr)
    return "new", result


def _reason(path: Path, e: BaseException) -> str:
    """The reason part of ``path: reason`` for any error, translated (see ``describe``)."""
    msg = describe(e)
    for prefix in (f"{shown(path)}: ", f"{path}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def _print_outcomes(out_dir: Path, outcomes: list[tuple[str, dict[str, Any], Path]]) -> None:
    from dfrec.results import VERDICT_TEXT, by_score, verdict

    for status, result, name in outcomes:
        faces = result.get("faces", [])
        order = by_score(faces)
        top = float(faces[order[0]]["score_fake"]) if faces else 0.0
        what = "track" if result["input"]["kind"] == "video" else "face"
        again = " (already done: same input, settings and model; --force redoes it)" if status == "done" else ""
        worst = ""
        if what == "track" and faces:  # a track's score is its frames' mean: a swap in a few frames hides in it
            w = max(float(f.get("score_fake_max", f["score_fake"])) for f in faces)
            worst = f", worst frame {w:.3f} ({VERDICT_TEXT[verdict(w)]})"
        which = ""
        if len(faces) > 1:  # name the face, as the report's headline does
            which = ", " + faces[order[0]].get("label", what).lower()
        print(f"{shown(result['input']['path'])}: {len(faces)} {what}{'s' if len(faces) != 1 else ''}, highest fake "
              f"score {top:.3f} ({VERDICT_TEXT[verdict(top)]}{which}){worst} -> "
              f"{shown(out_dir / name / 'report.html')}{again}")
        for note in result.get("notes", []):  # what report.html shows under "Read this first"
            print(f"  note: {note}")
        for face in faces:
            for c in face.get("caveats", []):
                print(f"  {face.get('label', 'face')}: {c['message']}")
        for line in gallery_lines(result):
            print(line)


def run(args: argparse.Namespace) -> int:
    import traceback

    from tqdm.auto import tqdm

    from dfrec.faces.worker import IsolatedDetector, WorkerStartError
    from dfrec.recover import Recoverer
    from dfrec.report.store import ResultStore
    from dfrec.report.summary import merged_summary, write_summary

    out_dir = Path(args.output)
    ignored: list[dict[str, str]] = []
    items, failed = collect_inputs(args.inputs, out_dir, ignored)
    n_inputs = len(items) + len(failed)
    outcomes: list[tuple[str, dict[str, Any], Path]] = []
    reasons: list[type] = []
    summary = None
    interrupted: BaseException | None = None
    if items:
        with ResultStore(out_dir) as store:  # lock + checks before the model loads
            if store.cleaned:
                print(f"dfrec: removed {len(store.cleaned)} partial file(s) or folder(s) left by an interrupted "
                      f"run in {shown(out_dir)}", file=sys.stderr)
            gallery, gallery_info = _open_gallery(args)  # a missing gallery fails before the model loads
            recoverer = Recoverer.from_pretrained(args.checkpoint, device=args.device, seed=args.seed,
                                                detection_threshold=args.detection_threshold,
                                                detection_upsample=args.detection_upsample)
            recoverer.detector = IsolatedDetector(recoverer.detector)  # a native crash costs one file
            try:
                model_info = recoverer.model_info()
                settings = _settings(args, recoverer)
                if gallery is not None:
                    settings.update(gallery=str(gallery.folder.resolve()), top_k=args.top_k)
                bar = tqdm(items, desc="dfrec recover", unit="input", disable=args.no_progress)
                for item in bar:
                    try:
                        status, result = recover_one(store, recoverer, item, settings, model_info, args, gallery,
                                                     gallery_info)
                        outcomes.append((status, result, item[2]))
                    except (KeyboardInterrupt, WorkerStartError) as e:  # the run stops, the summary is written
                        interrupted = e
                        break
                    except Exception as e:  # one file's failure never stops the batch
                        if getattr(args, "debug", False) and not isinstance(e, DfrecError):
                            traceback.print_exc()
                        failed.append({"input": str(item[0]), "reason": _reason(item[0], e)})
                        reasons.append(type(e))
                        if n_inputs > 1:  # a single input's error is the one line of _finish
                            tqdm.write(f"dfrec: skipped {shown(item[0])}: {failed[-1]['reason']}", file=sys.stderr)
                bar.close()
            finally:
                recoverer.detector.close()
            crashpoint("summary")
            entries, all_failed = merged_summary(store, failed, [str(i[0]) for i in items])
            summary = write_summary(out_dir, entries, all_failed, settings, model_info, ignored=ignored, run={
                "processed": sum(s == "new" for s, _, _ in outcomes),
                "already_done": sum(s == "done" for s, _, _ in outcomes),
                "failed": len(failed),
                "ignored": len(ignored),
                "removed_leftovers": len(store.cleaned),
                "interrupted": interrupted is not None,
            })
            if interrupted is not None:
                raise interrupted
    return _finish(args, out_dir, summary, outcomes, failed, ignored, reasons)


def _open_gallery(args: argparse.Namespace) -> tuple[Any, dict[str, Any] | None]:
    """The ``--gallery`` opened read-only and its record for the reports, or (None, None)."""
    if args.gallery is None:
        return None, None
    from dfrec.gallery import Gallery
    from dfrec.report.gallery import gallery_record

    gallery = Gallery.open(args.gallery, readonly=True)
    return gallery, gallery_record(gallery, args.top_k)


def _finish(args: argparse.Namespace, out_dir: Path, summary: dict[str, Any] | None,
            outcomes: list[tuple[str, dict[str, Any], Path]], failed: list[dict[str, str]],
            ignored: list[dict[str, str]], reasons: list[type]) -> int:
    """Print the run's outcome (JSON, or a line per result and the summary's path), what was passed
    over and what failed; return the exit code (0 when anything was processed, else the failures'
    own code: NoFaceError's when no input had a face)."""
    from dfrec.io import dumps_json

    if not outcomes and len(failed) == 1 and not ignored and not args.json:  # one input: one line
        print(f"dfrec: error: {shown(failed[0]['input'])}: {failed[0]['reason']}", file=sys.stderr)
        return NoFaceError.exit_code if reasons and issubclass(reasons[0], NoFaceError) else InputError.exit_code
    if args.json:
        print(dumps_json(summary or {"processed": 0, "results": [], "failed": failed, "ignored": ignored}))
    else:
        _print_outcomes(out_dir, outcomes)
        if summary is not None:
            print(f"summary: {shown(out_dir / 'summary.html')}")
    if ignored:
        why = "; ".join(f"{reason}: {n}" for reason, n in Counter(i["reason"] for i in ignored).items())
        print(f"dfrec: {len(ignored)} item(s) in the input folders passed over ({why}; listed under 'ignored' "
              "in summary.json)", file=sys.stderr)
    if failed:
        print(f"dfrec: {len(failed)} input(s) could not be processed:", file=sys.stderr)
        for f in failed:
            print(f"  {shown(f['input'])}: {f['reason']}", file=sys.stderr)
    if not outcomes:
        print("dfrec: error: nothing could be processed", file=sys.stderr)
        if reasons and all(issubclass(r, NoFaceError) for r in reasons) and len(reasons) == len(failed):
            return NoFaceError.exit_code
        return InputError.exit_code
    return 0


def gallery_lines(result: dict[str, Any]) -> list[str]:
    """One console line per face: the best gallery candidate for its recovered source and target."""
    lines = []
    for face in result.get("faces", []):
        bits = []
        for probe in ("source", "target"):
            cands = face.get("gallery", {}).get(probe) or []
            if cands:
                c = cands[0]
                if c.get("likely_same_person"):
                    bits.append(f"{probe} ~ {shown(c['name'])} ({c['similarity']:.2f} likely the same person)")
                else:  # the nearest person, however unlike: a weak lead, not a match
                    bits.append(f"{probe}: no likely match (nearest {shown(c['name'])}, {c['similarity']:.2f})")
        if bits:
            lines.append(f"  {face.get('label', 'face')}: " + ", ".join(bits))
    return lines
