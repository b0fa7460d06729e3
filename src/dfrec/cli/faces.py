"""``dfrec faces``: detect faces, write aligned crops (PNG) and a landmarks JSON per image."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dfrec.errors import DfrecError, InputError, NoFaceError

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
    p.add_argument("--size", type=int, default=224, help="crop side in pixels (default 224)")
    p.add_argument(
        "--margin",
        type=float,
        default=None,
        help="dlib-style padding around the mean face (default 0.6: whole head with some hair)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--all-faces", dest="largest", action="store_false", help="write every face (default)")
    g.add_argument("--largest", dest="largest", action="store_true", help="write only the largest face")
    p.add_argument("--upsample", type=int, default=1, help="HOG detector upsamplings (default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run, largest=False)


def _collect(inputs: list[str]) -> list[tuple[Path, Path]]:
    """(image path, output stem relative to the output folder) for every input."""
    from dfrec.io import IMAGE_SUFFIXES, list_images

    items: list[tuple[Path, Path]] = []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = list_images(p)
            if not found and len(inputs) > 1:
                print(f"dfrec: warning: {p}: no image files ({', '.join(IMAGE_SUFFIXES)})", file=sys.stderr)
            items += [(f, Path(p.name) / f.relative_to(p).with_suffix("")) for f in found]
        else:
            items.append((p, Path(p.stem)))
    seen: dict[Path, int] = {}
    out = []
    for path, stem in items:  # distinct output names for equal stems
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        out.append((path, stem if n == 0 else stem.with_name(f"{stem.name}_{n + 1}")))
    return out


def _process(path: Path, stem: Path, outdir: Path, args: argparse.Namespace, detector) -> dict[str, Any]:
    from dfrec.faces.align import DEFAULT_MARGIN, align_face
    from dfrec.io import read_image, write_image, write_json_atomic

    image = read_image(path)
    faces = detector.detect(image)
    if not faces:
        raise NoFaceError(f"{path}: no face found")
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
    write_json_atomic(outdir / stem.with_suffix(".json"), result)
    return result


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dfrec.faces.detect import FaceDetector
    from dfrec.io import IMAGE_SUFFIXES

    if args.size < 16:
        raise InputError(f"--size must be at least 16; got {args.size}")
    if args.margin is not None and not 0 <= args.margin <= 3:
        raise InputError(f"--margin must be in [0, 3]; got {args.margin}")
    items = _collect(args.inputs)
    if not items:
        where = f"{args.inputs[0]}: " if len(args.inputs) == 1 else ""
        raise InputError(f"{where}no input images (looked for {', '.join(IMAGE_SUFFIXES)})")
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: exists and is not a folder")
    detector = FaceDetector(upsample=args.upsample)
    done, skipped = [], []
    errors: list[DfrecError] = []
    bar = tqdm(items, desc="faces", unit="img", disable=len(items) < 4 or None, file=sys.stderr)
    for path, stem in bar:
        try:
            done.append(_process(path, stem, outdir, args, detector))
        except DfrecError as e:
            errors.append(e)
            skipped.append({"image": str(path), "error": str(e)})
            if len(items) > 1:  # a single input's error is raised below as the one message
                tqdm.write(f"dfrec: skipped: {e}", file=sys.stderr)
    if not done:
        if len(errors) == 1:
            raise errors[0]
        raise InputError(f"none of the {len(items)} inputs could be processed (see the messages above)")
    n_faces = sum(len(r["faces"]) for r in done)
    if args.json:
        summary = {"output": str(outdir), "processed": done, "skipped": skipped}
        print(json.dumps(summary, indent=2))
    else:
        extra = f"; {len(skipped)} skipped" if skipped else ""
        print(f"{len(done)} image(s), {n_faces} face(s) written to {outdir}{extra}")
    return 0
