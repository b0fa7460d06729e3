"""Similarity alignment of a face to a canonical square crop, and pasting a result back.

The canonical frame is dlib's own face-chip frame. ``dlib.get_face_chip_details`` fits a
least-squares similarity transform from a normalised mean face (landmarks 17-67 in
[0, 1]², eyebrows and lower lip left out of the fit) to the 68 detected landmarks, and
places that mean face in a square of side ``size`` with ``padding`` on every side:
template point ``t`` sits at ``(padding + t) / (2 * padding + 1) * size`` crop pixels.
:func:`align_face` does exactly the same fit (same points, same direction: least squares
in image space), with ``margin`` in the role of dlib's ``padding``. Because the fit is
equivariant under similarities, dlib's 150×150 recognition chip (``padding=0.25``) is
then a *fixed* axis-aligned sub-square of every aligned crop, given by
:func:`chip_matrix`; the identity network reads it from the crop with one affine resample.

Default margin: :data:`DEFAULT_MARGIN` = 0.6, i.e. the crop spans 2.2 template units
(the template unit is about the outer-eyebrow width, ≈ 1.9 × the eye distance). That
holds the whole head, some hair and a band of background and neck, close to the framing
of CelebA-HQ / FFHQ crops that DFREC trains on (FFHQ: about 4 eye distances wide), while
a face still fills about 45 % of the crop width. dlib's recognition chip (1.5 units) is
the central 68 % of such a crop, so a 224 crop samples it at ≈ 1 px per chip pixel.

Coordinates are pixel centres (pixel ``(i, j)`` sits at ``x = j, y = i``), the convention
of OpenCV's ``warpAffine`` and of dlib's shape predictor.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dfrec.errors import InputError
from dfrec.io import as_rgb_uint8

#: Default dlib-style padding of the aligned crop (see the module docstring).
DEFAULT_MARGIN = 0.6
#: dlib's recognition chip: 150×150 pixels at padding 0.25.
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25

# dlib's mean face shape for landmarks 17..67 (dlib/image_processing/frontal_face_detector
# get_face_chip_details), normalised to [0, 1]: x then y.
_DLIB_MEAN_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
)  # fmt: skip
_DLIB_MEAN_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
)  # fmt: skip

# Jaw line (landmarks 0..16), which dlib's template lacks: mean positions in the same
# normalised frame, measured on 1,988 LFW faces (HOG + sp68, each fitted to dlib's template;
# the same faces' points 17..67 average within 0.006 of dlib's template).
_JAW = (
    (-0.1158, 0.2388), (-0.1116, 0.3988), (-0.0970, 0.5592), (-0.0687, 0.7169),
    (-0.0124, 0.8654), (0.0791, 0.9981), (0.1969, 1.1086), (0.3334, 1.1970),
    (0.4902, 1.2228), (0.6465, 1.1972), (0.7831, 1.1113), (0.9027, 1.0034),
    (0.9956, 0.8724), (1.0540, 0.7236), (1.0833, 0.5650), (1.0971, 0.4042),
    (1.1031, 0.2433),
)  # fmt: skip

#: (68, 2) float64 mean face in dlib's normalised frame (x, y); rows 17..67 are dlib's.
MEAN_FACE = np.concatenate([np.asarray(_JAW, float), np.stack([_DLIB_MEAN_X, _DLIB_MEAN_Y], 1)])
MEAN_FACE.setflags(write=False)

#: Landmark indices dlib fits (17..67 without eyebrows 17-26 and lower lip 55-59, 65-67).
FIT_INDICES = np.array(
    [i for i in range(17, 68) if not (17 <= i <= 26 or 55 <= i <= 59 or 65 <= i <= 67)], dtype=np.int64
)


@dataclass
class AlignedFace:
    """A face warped to the canonical crop.

    image: (size, size, 3) uint8 RGB crop. matrix: (2, 3) float64 similarity mapping
    image pixels to crop pixels. landmarks: (68, 2) float32 (x, y) in crop pixels.
    """

    image: np.ndarray
    matrix: np.ndarray
    landmarks: np.ndarray
    size: int
    margin: float

    @property
    def inverse(self) -> np.ndarray:
        """(2, 3) float64 matrix mapping crop pixels back to image pixels."""
        return invert_affine(self.matrix)


def canonical_landmarks(size: int = 224, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """(68, 2) float32 mean-face landmarks (x, y) in the pixels of a ``size`` crop at ``margin``."""
    return ((margin + MEAN_FACE) / (2.0 * margin + 1.0) * size).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift; no reflection) src -> dst.

    Umeyama's closed form, the method dlib's ``find_similarity_transform`` uses.
    src, dst: (N, 2) points, N >= 2. Returns a (2, 3) float64 matrix ``[sR | t]``.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s <= 0:
        raise InputError("landmarks are degenerate (all points coincide)")
    cov = d0.T @ s0 / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(cov) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / var_s
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as (2, 3) float64."""
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine ``matrix`` to (N, 2) points; returns (N, 2) float64."""
    pts = np.asarray(points, np.float64)
    m = np.asarray(matrix, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def alignment_matrix(landmarks: np.ndarray, size: int = 224, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """(2, 3) float64 similarity mapping image pixels to the ``size`` crop at ``margin``.

    Fits, like dlib, the template (crop pixels) to ``landmarks`` (68, 2) in image pixels
    (least squares in image space) over :data:`FIT_INDICES`, then inverts it.
    """
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise InputError(f"landmarks must be a finite (68, 2) array; got shape {lm.shape}")
    if lm[FIT_INDICES].std(0).max() < 1e-3:
        raise InputError("landmarks are degenerate (all points coincide)")
    template = canonical_landmarks(size, margin).astype(np.float64)
    crop_to_image = similarity_transform(template[FIT_INDICES], lm[FIT_INDICES])
    return invert_affine(crop_to_image)


#: Eye-centre distance, px, of a face aligned to a 224-px crop (LFW's aligned crops: mean 53.2,
#: p5–p95 47.9–58.7); scales with the crop size. A face whose eyes are E px apart in its picture
#: reaches the crop enlarged about CROP_EYES_PX / E times.
CROP_EYES_PX = 53.0


def eye_distance(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (means of dlib-68 points 36–41 and 42–47), in the
    landmarks' pixels: how many pixels of the picture the face spans, whatever its pose."""
    lm = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))


def crop_scale(matrix: np.ndarray) -> float:
    """Crop pixels per image pixel of an alignment ``matrix`` (2, 3): > 1 when the crop enlarges
    the picture (a face smaller than the crop), < 1 when it shrinks it."""
    m = np.asarray(matrix, np.float64)[:, :2]
    return float(np.sqrt(abs(np.linalg.det(m))))


#: Interpolation of a warp that enlarges the picture (a face smaller than the crop: most faces).
#: Lanczos-4 (8×8 taps) instead of bilinear: on held-out LFW faces shrunk until the eyes are 40 /
#: 20 / 14 / 10 px apart and run through ``dfrec recover`` (192 swaps, 96 untouched), the bundled
#: model's recovered target gained +0.007 / +0.011 / +0.014 / +0.027 IDSim (z 3.6 / 2.9 / 3.3 / 6.1),
#: the source +0.001 / +0.003 / +0.007 / +0.019, and the untouched faces called swapped fell
#: 0.05 / 0.32 / 0.76 / 0.96 → 0.05 / 0.09 / 0.35 / 0.73 (a soft enlargement reads as a pasted
#: face); bicubic gained about as much on the target, less on the source
#: (``benchmarks/face_size_sensitivity.py --interpolation``, docs/recover.md). Shrinking warps stay
#: bilinear after the pyramid (anti-aliased). Landmark caches built before 2026-12-06, the bundled
#: model's training and test crops among them, hold bilinear enlargements; one built now, Lanczos.
ENLARGE_INTERPOLATION = cv2.INTER_LANCZOS4
#: Interpolation of :func:`paste_back`'s crop pixels, in both directions (no anti-aliasing pyramid:
#: the pasted crop came from the same picture, and an interpolating kernel returns its pixels).
#: A picture's face through ``align_face`` and back, PSNR inside the crop's footprint, Lanczos-4 −
#: bilinear at < 0.7 / 0.7–1.4 / 1.4–2.8 / ≥ 2.8 crop px per photo px: +0.7 / +6.8 / +7.7 / −0.1 dB
#: (11 faces of 6 photos from outside LFW at 4 sizes; ``benchmarks/paste_back_fidelity.py``,
#: docs/recover.md). Bilinear until 2026-12-06.
PASTE_INTERPOLATION = cv2.INTER_LANCZOS4
_INTERPOLATION_NAMES = {cv2.INTER_LINEAR: "bilinear", cv2.INTER_CUBIC: "bicubic", cv2.INTER_LANCZOS4: "lanczos4"}


def interpolation_name(flag: int) -> str:
    """The name of an OpenCV interpolation ``flag`` as reports, caches and assets record it
    (``lanczos4``, ``bicubic``, ``bilinear``; others as ``opencv flag N``)."""
    return _INTERPOLATION_NAMES.get(int(flag), f"opencv flag {int(flag)}")


def warp_image(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], border: int,
               enlarge: int | None = None) -> np.ndarray:
    """``image`` warped by the 2×3 ``matrix`` (source → destination pixels) to ``size`` (w, h), as
    :func:`align_face` warps: anti-aliased, halving the source (pyrDown) while the warp shrinks > 2×;
    ``enlarge`` (an OpenCV ``INTER_*`` flag; default :data:`ENLARGE_INTERPOLATION`) where the
    warp enlarges, bilinear otherwise."""
    m = np.asarray(matrix, np.float64).copy()
    scale = crop_scale(m)
    src = image
    while scale < 0.5 and min(src.shape[:2]) >= 4:
        src = cv2.pyrDown(src)
        # pyrDown's output pixel x' is centred on input pixel 2x' (5-tap kernel at 2x')
        m[:, :2] *= 2.0
        scale *= 2.0
    flags = (ENLARGE_INTERPOLATION if enlarge is None else enlarge) if scale > 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(src, m, size, flags=flags, borderMode=border)


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    size: int = 224,
    margin: float | None = None,
    border: str = "reflect",
    enlarge: int | None = None,
) -> AlignedFace:
    """Warp the face with 68 ``landmarks`` to a canonical ``size``×``size`` crop.

    image: (H, W, 3) uint8 RGB (other modes via :func:`dfrec.io.as_rgb_uint8`);
    landmarks: (68, 2) (x, y) image pixels; margin: dlib-style padding (default
    :data:`DEFAULT_MARGIN`); border: how pixels outside the image are filled
    (``reflect``, ``replicate`` or ``constant`` black); enlarge: OpenCV interpolation flag for
    a face smaller than the crop (default :data:`ENLARGE_INTERPOLATION`, Lanczos-4;
    ``cv2.INTER_LINEAR`` reproduces crops made before 2026-12-06).
    """
    img = as_rgb_uint8(image)
    margin = DEFAULT_MARGIN if margin is None else float(margin)
    if size < 8 or margin < 0:
        raise InputError(f"bad crop geometry: size={size}, margin={margin}")
    modes = {"reflect": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
    if border not in modes:
        raise InputError(f"border must be one of {sorted(modes)}; got {border!r}")
    matrix = alignment_matrix(landmarks, size, margin)
    crop = warp_image(img, matrix, (size, size), modes[border], enlarge)
    lm_crop = transform_points(landmarks, matrix).astype(np.float32)
    return AlignedFace(image=crop, matrix=matrix, landmarks=lm_crop, size=int(size), margin=margin)


def chip_matrix(
    size: int = 224,
    margin: float = DEFAULT_MARGIN,
    chip_size: int = DLIB_CHIP_SIZE,
    chip_padding: float = DLIB_CHIP_PADDING,
) -> np.ndarray:
    """(2, 3) float64 matrix mapping crop pixels to dlib face-chip pixels.

    The chip is what ``dlib.get_face_chip(crop, shape, chip_size, chip_padding)`` would cut
    from the aligned crop if its landmarks were fitted exactly: the same template at
    ``chip_padding``. It also follows dlib's extraction convention (``extract_image_chip``
    stretches chip pixels 0 and ``chip_size - 1`` onto a rectangle of side
    ``chip_size * s - 1`` source pixels centred on the template centre, ``s`` = source
    pixels per template-chip pixel). Pure scale + shift: the chip is an axis-aligned
    sub-square of the crop. Use ``cv2.warpAffine(crop, chip_matrix(...), (150, 150))``
    or its inverse in ``torch.nn.functional.affine_grid``.
    """
    # template-chip pixel c -> crop pixel q: q = a * c + b (same for x and y)
    a = (2.0 * chip_padding + 1.0) / chip_size * size / (2.0 * margin + 1.0)
    b = (margin - chip_padding) / (2.0 * margin + 1.0) * size  # template t = c * (2p+1)/n - p
    centre = a * chip_size / 2.0 + b  # crop position of the template centre
    # dlib: chip pixel u -> source centre + (u - (n-1)/2) * (n*a - 1) / (n - 1)
    pitch = (chip_size * a - 1.0) / (chip_size - 1.0)
    inv_pitch = 1.0 / pitch
    shift = (chip_size - 1.0) / 2.0 - centre * inv_pitch
    return np.array([[inv_pitch, 0.0, shift], [0.0, inv_pitch, shift]], dtype=np.float64)


def crop_weight(size: int, feather: float = 0.08, mask: np.ndarray | None = None) -> np.ndarray:
    """(size, size) float32 blend weight in [0, 1]: 1 inside, ramping to 0 at the crop edge.

    feather: width of the ramp as a fraction of ``size`` (smoothstep profile). mask:
    optional (size, size) or (size, size, 1) soft mask in [0, 1] (or uint8 0..255)
    multiplied in, e.g. a segmentation map, so only the masked region is pasted.
    """
    idx = np.arange(size, dtype=np.float32)
    dist = np.minimum(idx + 0.5, size - 0.5 - idx)  # distance of pixel centre to the edge
    width = max(float(feather) * size, 1e-6)
    ramp = np.clip(dist / width, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    w = np.minimum(ramp[:, None], ramp[None, :])
    if mask is not None:
        m = np.asarray(mask)
        if m.ndim == 3:
            m = m[..., 0]
        if m.shape != (size, size):
            raise InputError(f"paste mask must be ({size}, {size}); got {m.shape}")
        m = m.astype(np.float32) / (255.0 if m.dtype == np.uint8 else 1.0)
        w = w * np.clip(m, 0.0, 1.0)
    return w.astype(np.float32)


def paste_back(
    image: np.ndarray,
    crop: np.ndarray,
    matrix: np.ndarray,
    feather: float = 0.08,
    mask: np.ndarray | None = None,
    interpolation: int | None = None,
) -> np.ndarray:
    """Warp a (size, size, 3) ``crop`` back into ``image`` and blend; returns a new image.

    image: (H, W, 3) uint8; crop: (size, size, 3) uint8 or float in [0, 1]; matrix: the
    (2, 3) image->crop matrix of :func:`align_face`; feather and mask as in
    :func:`crop_weight`; interpolation: OpenCV ``INTER_*`` flag for the crop's pixels (default
    :data:`PASTE_INTERPOLATION`; the blend weight is always bilinear). Only the crop's
    footprint is touched: pixels outside it are returned unchanged (bit-exact).
    """
    img = as_rgb_uint8(image)
    c = as_rgb_uint8(crop)
    size = c.shape[0]
    if c.shape[1] != size:
        raise InputError(f"crop must be square; got {c.shape}")
    m = np.asarray(matrix, np.float64)
    h, w = img.shape[:2]
    # footprint of the crop in the image, clipped: only that region is warped
    corners = transform_points(np.array([[-1, -1], [size, -1], [size, size], [-1, size]], float), invert_affine(m))
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    out = img.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    # matrix from ROI pixels to crop pixels: roi (u, v) = image (u + x0, v + y0)
    m_roi = m.copy()
    m_roi[:, 2] += m[:, 0] * x0 + m[:, 1] * y0
    roi_size = (x1 - x0, y1 - y0)
    interp = PASTE_INTERPOLATION if interpolation is None else int(interpolation)
    warped = cv2.warpAffine(c, m_roi, roi_size, flags=interp | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(crop_weight(size, feather, mask), m_roi, roi_size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
    region = img[y0:y1, x0:x1].astype(np.float32)
    blended = region + alpha * (warped.astype(np.float32) - region)
    blended = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    untouched = alpha[..., 0] <= 0
    blended[untouched] = img[y0:y1, x0:x1][untouched]
    out[y0:y1, x0:x1] = blended
    return out
