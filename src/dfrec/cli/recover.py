"""``dfrec recover``: recover source and target faces in images, folders and videos, with reports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dfrec.errors import DfrecError, InputError, NoFaceError
from dfrec.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

DEFAULT_OUTPUT = "dfrec_results"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recover",
        help="recover the source and target faces behind a face swap (images, folders, videos) and write reports",
        description=(
            "For every face in each INPUT (an image, a folder searched recursively, or a video: "
            ".mp4/.avi/.mov/...) write the aligned face, the recovered source and target faces, the "
            "identity map, a fake score, the faces pasted back into the picture, a self-contained "
            "report.html and a result.json with SHA-256 hashes; summary.html/summary.json index the batch. "
            "Inputs that cannot be processed are listed at the end; the exit status is non-zero only "
            "when none could be processed."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image, folder or video file")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="OUT",
                   help=f"output folder (default: ./{DEFAULT_OUTPUT})")
    p.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="checkpoint folder (config.json + safetensors), e.g. a converted official model; "
                        "default: the model bundled with dfrec")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1, ... (default: auto)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.add_argument("--fps", type=float, default=1.0,
                   help="frames per second of video time to analyse (0 = every frame; default: 1)")
    p.add_argument("--max-faces", type=int, default=None, metavar="N",
                   help="analyse at most the N largest faces per image or frame")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="analyse at most N sampled frames per video")
    p.add_argument("--detection-threshold", type=float, default=None, metavar="T",
                   help="face detector score threshold (default: the detector's own, 0; raise it, e.g. 0.5, "
                        "to drop weak detections)")
    p.add_argument("--detection-upsample", type=int, default=None, metavar="N", choices=(0, 1, 2),
                   help="face detector upsamplings (default 1: faces down to ~40 px in a 1024-px picture; "
                        "0 is several times faster and finds faces from ~80 px)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the model's random patch masking (results are reproducible per seed; default: 0)")
    p.add_argument("--gallery", default=None, metavar="G",
                   help="gallery folder (dfrec gallery add): list the known people most similar to every "
                        "recovered source and target, with a calibrated 'likely the same person' verdict")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="gallery candidates per face (default 5)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def collect_inputs(inputs: list[str], out_dir: Path) -> tuple[list[tuple[Path, str, Path]], list[dict[str, str]]]:
    """Expand INPUT arguments into ``(file, kind, report name)`` triples and failures.

    Folders are searched recursively for image and video files (hidden files and anything
    inside ``out_dir`` are skipped); report names are unique relative paths.
    """
    out_abs = out_dir.resolve()
    items: list[tuple[Path, str, Path]] = []
    failed: list[dict[str, str]] = []
    used: set[str] = set()
    media = IMAGE_SUFFIXES + VIDEO_SUFFIXES

    def unique(name: Path, suffix: str, parent: str = "") -> Path:
        cands = [name]
        if parent:
            cands.append(name.with_name(f"{parent}_{name.name}"))
        cands.append(name.with_name(f"{name.name}_{suffix.lstrip('.').lower()}"))
        for cand in cands:
            if cand.as_posix().lower() not in used:
                break
        base, k = cand, 2
        while cand.as_posix().lower() in used:
            cand = base.with_name(f"{base.name}-{k}")
            k += 1
        used.add(cand.as_posix().lower())
        return cand

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            files = sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in media
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and out_abs not in f.resolve().parents
            )
            if not files:
                failed.append({"input": str(p), "reason": "folder holds no image or video files"})
            root_name = p.resolve().name or "input"
            for f in files:
                rel = f.relative_to(p)
                kind = "video" if f.suffix.lower() in VIDEO_SUFFIXES else "image"
                items.append((f, kind, unique(Path(root_name) / rel.with_suffix(""), f.suffix)))
        elif p.exists():
            kind = "video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"
            items.append((p, kind, unique(Path(p.stem or "input"), p.suffix, p.resolve().parent.name)))
        else:
            failed.append({"input": str(p), "reason": "no such file or folder"})
    return items, failed


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from dfrec.io import read_image
    from dfrec.recover import Recoverer
    from dfrec.report.provenance import model_record
    from dfrec.report.summary import summary_entry, write_summary
    from dfrec.report.writer import write_image_report, write_video_report

    if args.fps < 0:
        raise InputError("--fps must be >= 0")
    if args.max_faces is not None and args.max_faces < 1:
        raise InputError("--max-faces must be >= 1")
    if args.top_k < 1:
        raise InputError("--top-k must be >= 1")
    gallery = None
    if args.gallery is not None:
        from dfrec.gallery import Gallery

        gallery = Gallery.open(args.gallery, readonly=True)  # a missing gallery fails before the model loads
    out_dir = Path(args.output)
    items, failed = collect_inputs(args.inputs, out_dir)
    recoverer = Recoverer.from_pretrained(args.checkpoint, device=args.device, seed=args.seed,
                                        detection_threshold=args.detection_threshold,
                                        detection_upsample=args.detection_upsample)
    model_info = model_record(recoverer.checkpoint, recoverer.model_config)
    settings: dict[str, Any] = {
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
    if gallery is not None:
        settings.update(gallery=str(gallery.folder.resolve()), top_k=args.top_k)
    report_kw = {"gallery": gallery, "top_k": args.top_k}
    entries: list[dict[str, Any]] = []
    named: dict[str, list[str]] = {}
    reasons: list[type] = []
    progress = not args.no_progress
    bar = tqdm(items, desc="dfrec recover", unit="input", disable=not progress)
    for path, kind, name in bar:
        folder = out_dir / name
        try:
            if kind == "video":
                video = recoverer.recover_video(path, fps=args.fps, max_faces=args.max_faces,
                                                max_frames=args.max_frames, progress=progress)
                if not video.tracks:
                    raise NoFaceError(f"{path}: no face found in any of the {video.frames_sampled} sampled frames")
                result = write_video_report(folder, path, video, recoverer, settings, model_info, **report_kw)
            else:
                image = read_image(path)
                recs = recoverer.recover(image, max_faces=args.max_faces, paste=False)
                if not recs:
                    raise NoFaceError(f"{path}: no face found")
                result = write_image_report(folder, path, image, recs, recoverer, settings, model_info, **report_kw)
            entries.append(summary_entry(out_dir, folder, result))
            if gallery is not None:
                named[entries[-1]["folder"]] = gallery_lines(result)
        except DfrecError as e:
            msg = str(e)
            failed.append({"input": str(path), "reason": msg[len(str(path)) + 2:] if msg.startswith(f"{path}: ") else msg})
            reasons.append(type(e))
            tqdm.write(f"dfrec: skipped {e}", file=sys.stderr)
        except Exception as e:  # keep going past anything unexpected in one file
            failed.append({"input": str(path), "reason": f"{e.__class__.__name__}: {e}"})
            reasons.append(type(e))
            tqdm.write(f"dfrec: skipped {path}: {e.__class__.__name__}: {e}", file=sys.stderr)
    bar.close()

    summary = write_summary(out_dir, entries, failed, settings, model_info) if (entries or items) else None
    if args.json:
        print(json.dumps(summary or {"processed": 0, "results": [], "failed": failed}, indent=2))
    else:
        for e in entries:
            top = e["max_score_fake"]
            what = "track" if e["kind"] == "video" else "face"
            print(f"{e['input']}: {e['faces']} {what}{'s' if e['faces'] != 1 else ''}, highest fake score "
                  f"{top:.3f} ({'likely swapped' if top >= 0.5 else 'no swap detected'}) -> "
                  f"{out_dir / e['folder'] / 'report.html'}")
            for line in named.get(e["folder"], []):
                print(line)
        if summary is not None:
            print(f"summary: {out_dir / 'summary.html'}")
    if failed:
        print(f"dfrec: {len(failed)} input(s) could not be processed:", file=sys.stderr)
        for f in failed:
            print(f"  {f['input']}: {f['reason']}", file=sys.stderr)
    if not entries:
        print("dfrec: error: nothing could be processed", file=sys.stderr)
        if reasons and all(issubclass(r, NoFaceError) for r in reasons):
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
                same = " likely the same person" if c.get("likely_same_person") else ""
                bits.append(f"{probe} ~ {c['name']} ({c['similarity']:.2f}{same})")
        if bits:
            lines.append(f"  {face.get('label', 'face')}: " + ", ".join(bits))
    return lines
