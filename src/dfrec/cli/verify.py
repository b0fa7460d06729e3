"""``dfrec verify A B``: are the largest faces of two images the same person?"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfrec.cli.args import ranged, device_name

HELP = "say whether two images show the same person (L2 distance, IDSim)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify",
        help=HELP,
        description=(
            "Detect the largest face in each image, embed it with dlib's face-recognition "
            "ResNet (PyTorch port) and compare: 'same' when the L2 distance of the 128-d "
            "embeddings is below the threshold (dlib's rule, 0.6; 99.4 %% on LFW per dlib). "
            "Also prints IDSim (cosine after removing the mean LFW embedding; see "
            "docs/identity.md) and the raw cosine."
        ),
    )
    p.add_argument("image_a", metavar="A", help="first image")
    p.add_argument("image_b", metavar="B", help="second image")
    p.add_argument("--threshold", type=ranged(float, 0, 4, lo_open=True), default=0.6,
                   help="L2 distance below which faces match, in (0, 4] (default 0.6)")
    p.add_argument("--flip", action="store_true", help="average each embedding with its mirror image's")
    p.add_argument("--device", default="auto", type=device_name, help="torch device: auto, cpu, cuda, cuda:1 (default auto)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from dfrec.device import select_device
    from dfrec.errors import DfrecError, shown
    from dfrec.faces.detect import check_geometry
    from dfrec.faces.worker import IsolatedDetector
    from dfrec.faces.identity import cosine, embed_largest_face, idsim, is_same_person, l2_distance
    from dfrec.io import dumps_json, read_image

    device = select_device(args.device)
    images = [read_image(p) for p in (args.image_a, args.image_b)]  # fail on bad files before any model loads
    for img, p in zip(images, (args.image_a, args.image_b)):
        check_geometry(img.shape, shown(p))
    with IsolatedDetector() as detector:  # a crash in dlib's native code gives one line, not a dead process
        found = []
        for img, p in zip(images, (args.image_a, args.image_b)):
            try:
                found.append(embed_largest_face(img, name=shown(p), flip=args.flip, device=device, detector=detector))
            except DfrecError as e:
                msg = str(e)
                raise type(e)(msg if msg.startswith(f"{shown(p)}: ") else f"{shown(p)}: {msg}") from None
    ea, eb = (torch.from_numpy(f.embedding) for f in found)
    dist = float(l2_distance(ea, eb))
    same = bool(is_same_person(dist, args.threshold))
    result = {
        "a": str(args.image_a),
        "b": str(args.image_b),
        "same": same,
        "distance": round(dist, 4),
        "threshold": args.threshold,
        "idsim": round(float(idsim(ea, eb)), 4),
        "cosine": round(float(cosine(ea, eb)), 4),
        "faces": [
            {"box": [round(float(v), 1) for v in f.face.box], "detector": f.face.detector}
            for f in found
        ],
    }
    if args.json:
        print(dumps_json(result))
    else:
        verdict = "same person" if same else "different people"
        rel = "<" if same else ">="
        print(f"{verdict}: L2 distance {dist:.3f} {rel} {args.threshold:g}")
        print(f"  IDSim  {result['idsim']:.3f}   (1 = identical; LFW same ~0.7, different ~0.0)")
        print(f"  cosine {result['cosine']:.3f}")
        for tag, f, path in zip("AB", found, (args.image_a, args.image_b)):
            box = ", ".join(f"{v:.0f}" for v in f.face.box)
            print(f"  {tag}: {Path(path).name}: face [{box}] ({f.face.detector})")
    return 0
