"""``dfrec faces``: detect faces, write aligned crops (PNG) and a landmarks JSON per image."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dfrec.cli.args import ranged
from dfrec.errors import DfrecError, InputError, NoFaceError, describe, shown

HELP = "detect faces and write aligned crops + landmarks JSON"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "faces",
        help=HELP,
        description=(
            "Detect faces (dlib HOG, CNN fallback), predict 68 landmarks and write each face "
            "aligned to a canonical square crop as <name>_face<k>.png, plus <name>.json with "
            "boxes, scores, landmarks in image and crop pixels and the image->crop matrix. "
            "Folders are searched for images recursively; unreadable files and images without "
            "a face are reported and skipped."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--size", type=ranged(int, 16, 4096), default=224, help="crop side in pixels, 16-4096 (default 224)")
    p.add_argument(
        "--margin",
        type=ranged(float, 0, 3),
        default=None,
        help="dlib-style padding around the mean face (default 0.6: whole head with some hair)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--all-faces", dest="largest", action="store_false", help="write every face (default)")
    g.add_argument("--largest", dest="largest", action="store_true", help="write only the largest face")
    p.add_argument("--upsample", type=ranged(int, 0, 2), default=1,
                   help="HOG detector upsamplings, 0-2 (default 1; each one finds faces half as big, 4x slower)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run, largest=False)


def _collect(inputs: list[str], outdir: Path, failed: list[dict[str, str]],
             ignored: list[dict[str, str]]) -> list[tuple[Path, Path]]:
    """(image path, output stem relative to the output folder) for every input; folders are
    scanned with :func:`dfrec.io.scan_folder`, never reading from the output folder."""
    from dfrec.io import IMAGE_SUFFIXES, scan_folder

    items: list[tuple[Path, Path]] = []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = scan_folder(p, IMAGE_SUFFIXES, outdir, failed, ignored)
            if not found and len(inputs) > 1:
                print(f"dfrec: warning: {shown(p)}: no image files ({', '.join(IMAGE_SUFFIXES)})", file=sys.stderr)
            items += [(f, Path(p.resolve().name or "input") / f.relative_to(p).with_suffix("")) for f in found]
        else:
            items.append((p, Path(p.stem or "input")))
    seen: dict[str, int] = {}
    out = []
    for path, stem in items:  # distinct output names for equal stems
        n = seen.get(stem.as_posix().lower(), 0)
        seen[stem.as_posix().lower()] = n + 1
        out.append((path, stem if n == 0 else stem.with_name(f"{stem.name}_{n + 1}")))
    return out


def _process(path: Path, stem: Path, outdir: Path, args: argparse.Namespace, detector) -> dict[str, Any]:
    from dfrec.faces.align import DEFAULT_MARGIN, align_face
    from dfrec.faces.detect import no_face_message
    from dfrec.io import read_image, write_image, write_json_atomic

    image = read_image(path)
    faces = detector.detect(image)
    if not faces:
        raise NoFaceError(f"{shown(path)}: {no_face_message(image.shape, args.upsample, option='--upsample')}")
    if args.largest:
        faces = faces[:1]
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    records = []
    for k, face in enumerate(faces):
        aligned = align_face(image, face.landmarks, size=args.size, margin=margin)
        crop_rel = stem.with_name(f"{stem.name}_face{k}.png")
        write_image(outdir / crop_rel, aligned.image)
        rec = face.to_dict()
        rec.update(
            index=k,
            crop=crop_rel.name,
            landmarks_crop=[[round(float(x), 2), round(float(y), 2)] for x, y in aligned.landmarks],
            matrix=[[float(v) for v in row] for row in aligned.matrix],
        )
        records.append(rec)
    result = {
        "image": str(path),
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "size": args.size,
        "margin": margin,
        "matrix_maps": "image pixels -> crop pixels, (2, 3) affine, pixel centres at integers",
        "faces": records,
    }
    earlier = _listed_crops(outdir / stem.with_suffix(".json"))
    write_json_atomic(outdir / stem.with_suffix(".json"), result)
    for name in earlier - {r["crop"] for r in records}:  # crops of an earlier run with more faces
        (outdir / stem.with_name(name)).unlink(missing_ok=True)
    return result


def _listed_crops(json_path: Path) -> set[str]:
    """Crop file names an earlier run's JSON lists (empty when there is none)."""
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
        return {f["crop"] for f in doc.get("faces", []) if isinstance(f.get("crop"), str) and "/" not in f["crop"]}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dfrec.faces.detect import FaceDetector
    from dfrec.faces.worker import IsolatedDetector
    from dfrec.io import IMAGE_SUFFIXES, dumps_json, prepare_output_dir

    outdir = Path(args.output)
    failed: list[dict[str, str]] = []
    ignored: list[dict[str, str]] = []
    items = _collect(args.inputs, outdir, failed, ignored)
    if not items and not failed:
        where = f"{shown(args.inputs[0])}: " if len(args.inputs) == 1 else ""
        raise InputError(f"{where}no input images (looked for {', '.join(IMAGE_SUFFIXES)})")
    prepare_output_dir(outdir)  # before any work
    done, skipped = [], [{"image": f["input"], "error": f"{shown(f['input'])}: {f['reason']}"} for f in failed]
    errors: list[DfrecError] = [InputError(s["error"]) for s in skipped]
    for s in skipped:
        print(f"dfrec: skipped {s['error']}", file=sys.stderr)
    bar = tqdm(items, desc="faces", unit="img", disable=len(items) < 4 or None, file=sys.stderr)
    with IsolatedDetector(FaceDetector(upsample=args.upsample)) as detector:  # a native crash costs one file
        for path, stem in bar:
            try:
                done.append(_process(path, stem, outdir, args, detector))
            except Exception as e:  # one file's failure never stops the batch
                if getattr(args, "debug", False) and not isinstance(e, DfrecError):
                    import traceback

                    traceback.print_exc()
                msg = describe(e)
                if not msg.startswith(f"{shown(path)}: "):
                    msg = f"{shown(path)}: {msg}"
                err = e if isinstance(e, DfrecError) else InputError(msg)
                errors.append(type(err)(msg))
                skipped.append({"image": str(path), "error": msg})
                if len(items) + len(failed) > 1:  # a single input's error is raised below as the one message
                    tqdm.write(f"dfrec: skipped {msg}", file=sys.stderr)
    if not done:
        if len(errors) == 1:
            raise errors[0]
        raise InputError(f"none of the {len(errors)} inputs could be processed (see the messages above)")
    n_faces = sum(len(r["faces"]) for r in done)
    if args.json:
        summary = {"output": str(outdir), "processed": done, "skipped": skipped, "ignored": ignored}
        print(dumps_json(summary))
    else:
        extra = f"; {len(skipped)} skipped" if skipped else ""
        print(f"{len(done)} image(s), {n_faces} face(s) written to {shown(outdir)}{extra}")
    return 0
