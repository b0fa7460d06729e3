"""Torch datasets of forgery samples: synthetic (from a face set), triples on disk, and
converters for FaceForensics++, CelebaMegaFS and FFHQ-E4S into the triple format.

Every dataset yields dicts: ``forgery``, ``source``, ``target`` ``(3, 224, 224)`` float32
in [0, 1]; ``mask`` ``(1, 224, 224)`` in [0, 1]; ``is_fake`` float 0./1.; ``kind`` str;
``source_id``, ``target_id`` str.
"""

from dfrec.data.datasets.lfw import lfw_faces, load_split, make_identity_split, split_identities
from dfrec.data.datasets.synthetic import SyntheticForgeries, sample_to_item, to_tensor

__all__ = [
    "SyntheticForgeries",
    "lfw_faces",
    "load_split",
    "make_identity_split",
    "sample_to_item",
    "split_identities",
    "to_tensor",
]
