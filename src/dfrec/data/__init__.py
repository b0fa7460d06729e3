"""Training data for dfrec: forgery synthesis from aligned faces, face sets (landmark cache,
compact packs), identity splits and datasets.

Quick start (no dlib needed once a pack exists)::

    from dfrec.data import open_faces, lfw_faces, SyntheticForgeries, SynthConfig
    faces = lfw_faces(open_faces("lfw_pack"), "train")
    ds = SyntheticForgeries(faces, SynthConfig(), seed=0)
    item = ds[0]   # dict: forgery, source, target (3,224,224) [0,1], mask (1,224,224), ...

Building the cache/pack needs the face toolkit (dlib): ``dfrec data index`` and
``dfrec data pack``. See ``docs/data.md``.
"""

from dfrec.data.build import DATASETS, build_dataset, faces_from
from dfrec.data.datasets import SyntheticForgeries, lfw_faces, load_split, split_identities
from dfrec.data.faceset import FaceSet, open_cache, open_faces, open_pack
from dfrec.data.datasets.triples import TripleFolder
from dfrec.data.synth import FaceCrop, Sample, SynthConfig, Synthesizer

__all__ = [
    "DATASETS",
    "TripleFolder",
    "build_dataset",
    "faces_from",
    "FaceCrop",
    "FaceSet",
    "Sample",
    "SynthConfig",
    "Synthesizer",
    "SyntheticForgeries",
    "lfw_faces",
    "load_split",
    "open_cache",
    "open_faces",
    "open_pack",
    "split_identities",
]
