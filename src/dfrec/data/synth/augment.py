"""Post-augmentations of a sample.

Joint (same parameters on forgery, source, target and mask): horizontal flip, colour
jitter (brightness, contrast, saturation, hue) and, off by default, a translation by whole
pixels (an alignment error). Degradations of the forgery only, the
network's input, as in the paper's robustness tests: JPEG (quality 50-99), Gaussian blur
(kernel 3-7), Gaussian noise (variance 10-50 in 0..255 units); and, off by default, what
photos from elsewhere go through: a small face enlarged to the crop as ``recover`` does,
down- and up-scaling (a JPEG round trip in between, at times), unsharp masking, and WebP
instead of JPEG for a share of the round trips (what many sites re-encode uploads as), H.264 video
instead for a share of the last ones (the frame of a video, :mod:`dfrec.x264`), and the last round
trip made on the picture around the face rather than on the crop (sites re-encode the whole
picture). Order: small face, rescale, blur, sharpen, noise, JPEG (or WebP or H.264; of the crop or
of the picture).
"""

from __future__ import annotations

import cv2
import numpy as np

from dfrec.data.synth.config import AugmentConfig
from dfrec.data.synth.types import Sample


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of an ``(H, W, 3) uint8`` RGB image at ``quality`` (1-100)."""
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def webp(image: np.ndarray, quality: int) -> np.ndarray:
    """Lossy WebP round trip of an ``(H, W, 3) uint8`` RGB image at ``quality`` (1-100; libwebp's
    VP8 intra coding: 4x4 transforms, a deblocking filter, chroma at half resolution)."""
    ok, buf = cv2.imencode(".webp", image[..., ::-1], [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("this OpenCV build cannot encode WebP (augment.webp_prob needs it; set it to 0)")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def h264(image: np.ndarray, crf: int) -> np.ndarray:
    """H.264 round trip of an ``(H, W, 3) uint8`` RGB image at x264's ``crf`` (0-51, lower is finer):
    the last (P) frame of an 8-frame clip of it panning by whole pixels, moved back
    (:func:`dfrec.x264.clip_round_trip`; needs libx264)."""
    from dfrec.x264 import clip_round_trip

    return clip_round_trip(image, crf)


#: name -> lossy round trip ``f(image (H, W, 3) uint8 RGB, quality)``: a quality 1-100 for JPEG and
#: WebP, a CRF 0-51 for H.264
CODECS = {"jpeg": jpeg, "webp": webp, "h264": h264}


def compress(image: np.ndarray, quality: int, codec: str = "jpeg") -> np.ndarray:
    """Lossy round trip of an ``(H, W, 3) uint8`` RGB image through ``codec`` (a :data:`CODECS` name)
    at ``quality`` (H.264: a CRF)."""
    return CODECS[codec](image, quality)


def picture_round_trip(image: np.ndarray, scale: float, angle: float, phase: tuple[float, float], quality: int,
                       codec: str = "jpeg") -> np.ndarray:
    """An aligned ``(S, S, 3) uint8`` crop as ``dfrec recover`` sees it after the whole picture was
    re-encoded: the crop placed in a picture as a photo holds the face (``scale`` picture px per
    crop px, turned by ``angle`` degrees, shifted by ``phase`` (dx, dy) px against the codec's
    8-px blocks; reflected edges around it), a ``codec`` round trip (:data:`CODECS`) at ``quality``
    there, then warped back to the crop as :func:`dfrec.faces.align.align_face` warps (Lanczos-4
    where it enlarges). The codec's blocks reach the crop rescaled and turned, as they do through
    ``recover``, not on the crop's own grid."""
    from dfrec.faces.align import warp_image

    s = image.shape[0]
    side = int(np.ceil(s * scale * (abs(np.cos(np.radians(angle))) + abs(np.sin(np.radians(angle)))))) + 16
    m = cv2.getRotationMatrix2D(((s - 1) / 2.0, (s - 1) / 2.0), float(angle), float(scale))
    m[:, 2] += (side - 1) / 2.0 - (s - 1) / 2.0 + np.asarray(phase, np.float64)  # the crop's centre near the picture's
    picture = warp_image(image, m, (side, side), cv2.BORDER_REFLECT_101)
    picture = compress(picture, quality, codec)
    return warp_image(picture, cv2.invertAffineTransform(m), (s, s), cv2.BORDER_REFLECT_101)


def draw_picture(cfg: AugmentConfig, rng: np.random.Generator) -> tuple[float, float, tuple[float, float]]:
    """``(scale, angle, phase)`` for :func:`picture_round_trip`, drawn in ``cfg.picture_scale``,
    ±``cfg.picture_rotate`` degrees and [0, 8) px each way, in that order."""
    return (float(rng.uniform(*cfg.picture_scale)), float(rng.uniform(-cfg.picture_rotate, cfg.picture_rotate)),
            tuple(float(p) for p in rng.uniform(0.0, 8.0, size=2)))


def gaussian_blur(image: np.ndarray, kernel: int) -> np.ndarray:
    """Gaussian blur with an odd ``kernel`` size (sigma from OpenCV's rule for the kernel)."""
    k = int(kernel) | 1
    return cv2.GaussianBlur(image, (k, k), 0)


def gaussian_noise(image: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Add zero-mean Gaussian noise of ``variance`` (0..255 units squared), clipped to uint8."""
    n = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(np.sqrt(variance))
    return np.clip(image.astype(np.float32) + n + 0.5, 0, 255).astype(np.uint8)


def rescale_round_trip(image: np.ndarray, factor: float, quality: int | None = None,
                       up: int = cv2.INTER_LINEAR, codec: str = "jpeg") -> np.ndarray:
    """``(H, W, C)`` image (uint8, or float32 without ``quality``) down-scaled by ``factor`` in
    (0, 1] (area, at least 2 px a side), a ``codec`` round trip (:data:`CODECS`) at ``quality``
    when given, and back up to its size with the OpenCV ``INTER_*`` flag ``up`` (bilinear by
    default; bicubic, or the aligner's Lanczos-4 for a small face enlarged to the crop)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(2, round(w * factor)), max(2, round(h * factor))), interpolation=cv2.INTER_AREA)
    if quality is not None:
        small = compress(small, quality, codec)
    return cv2.resize(small, (w, h), interpolation=up)


def as_small_face(image: np.ndarray, eyes: float) -> np.ndarray:
    """An aligned ``(S, S, C)`` crop as ``dfrec recover`` sees the same face in a picture where its eyes
    are ``eyes`` px apart: area-shrunk by ``eyes`` / the crop's own eye distance
    (:data:`dfrec.faces.align.CROP_EYES_PX` at 224 px, scaled with S) and enlarged back with the
    aligner's :data:`~dfrec.faces.align.ENLARGE_INTERPOLATION`. Unchanged when ``eyes`` is at least
    the crop's own."""
    from dfrec.faces.align import CROP_EYES_PX, ENLARGE_INTERPOLATION

    factor = float(eyes) / (CROP_EYES_PX * image.shape[0] / 224.0)
    if factor >= 1.0:
        return image
    return rescale_round_trip(image, factor, up=ENLARGE_INTERPOLATION)


def unsharp_mask(image: np.ndarray, amount: float, sigma: float = 1.5) -> np.ndarray:
    """``(H, W, 3) uint8`` image sharpened: ``image + amount * (image - blur(image, sigma))``."""
    x = image.astype(np.float32)
    blurred = cv2.GaussianBlur(x, (0, 0), sigma)
    return np.clip(x + amount * (x - blurred) + 0.5, 0, 255).astype(np.uint8)


def translate(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` array with its content moved ``dy`` px down and ``dx`` px right
    (negative: up / left); the rows and columns uncovered repeat the edge. Same shape and dtype."""
    h, w = image.shape[:2]
    if abs(dy) >= h or abs(dx) >= w:
        raise ValueError(f"shift ({dy}, {dx}) px does not fit a {h}x{w} image")
    pad = [(max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0))] + [(0, 0)] * (image.ndim - 2)
    big = np.pad(image, pad, mode="edge")
    top, left = max(-dy, 0), max(-dx, 0)
    return np.ascontiguousarray(big[top:top + h, left:left + w])


def color_jitter(images: list[np.ndarray], b: float, c: float, s: float, hue: float) -> list[np.ndarray]:
    """Apply the same brightness shift ``b`` (fraction of 255), contrast ``c``, saturation ``s``
    (multipliers) and hue shift (OpenCV 0..180 units) to each ``(H, W, 3) uint8`` image
    (lookup tables on uint8 RGB and HSV)."""
    x = np.arange(256, dtype=np.float32)
    lut_bc = np.clip((x - 127.5) * c + 127.5 + b * 255.0 + 0.5, 0, 255).astype(np.uint8)
    lut_h = np.mod(np.round(x + hue), 180).astype(np.uint8)
    lut_s = np.clip(x * s + 0.5, 0, 255).astype(np.uint8)
    lut_hsv = np.stack([lut_h, lut_s, x.astype(np.uint8)], 1).reshape(256, 1, 3)
    do_hsv = abs(s - 1.0) > 1e-3 or abs(hue) > 0.5
    out = []
    for im in images:
        y = cv2.LUT(np.ascontiguousarray(im), lut_bc)
        if do_hsv:
            y = cv2.cvtColor(cv2.LUT(cv2.cvtColor(y, cv2.COLOR_RGB2HSV), lut_hsv), cv2.COLOR_HSV2RGB)
        out.append(y)
    return out


def augment(sample: Sample, cfg: AugmentConfig, rng: np.random.Generator) -> Sample:
    """Apply the configured post-augmentations to ``sample`` in place and return it.

    Every probability is drawn whether or not it fires, so the random stream (and thus a
    seeded sample) does not depend on earlier outcomes. The rescale and sharpen steps draw
    nothing while their probability is 0, so configs without them give the samples they
    always gave.
    """
    u = rng.random(5)
    info = sample.info.setdefault("augment", {})
    same = sample.source is sample.target  # real and self samples share one face
    if u[0] < cfg.flip_prob:
        sample.forgery = sample.forgery[:, ::-1].copy()
        sample.target = sample.target[:, ::-1].copy()
        sample.source = sample.target if same else sample.source[:, ::-1].copy()
        sample.mask = sample.mask[:, ::-1].copy()
        info["flip"] = True
    jit = (rng.uniform(*cfg.brightness), rng.uniform(*cfg.contrast), rng.uniform(*cfg.saturation), rng.uniform(*cfg.hue))
    if u[1] < cfg.jitter_prob:
        if same:
            sample.forgery, sample.target = color_jitter([sample.forgery, sample.target], *jit)
            sample.source = sample.target
        else:
            sample.forgery, sample.source, sample.target = color_jitter(
                [sample.forgery, sample.source, sample.target], *jit
            )
        info["jitter"] = [round(float(v), 3) for v in jit]
    if cfg.shift_prob > 0:
        v = rng.random()
        dy, dx = (int(d) for d in rng.integers(-cfg.shift_px, cfg.shift_px + 1, size=2))
        if v < cfg.shift_prob and (dy or dx):
            sample.forgery = translate(sample.forgery, dy, dx)
            sample.target = translate(sample.target, dy, dx)
            sample.source = sample.target if same else translate(sample.source, dy, dx)
            sample.mask = translate(sample.mask, dy, dx)
            info["shift"] = [dy, dx]
    q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    k = int(rng.integers(cfg.blur_kernel[0] // 2, cfg.blur_kernel[1] // 2 + 1)) * 2 + 1
    var = float(rng.uniform(*cfg.noise_var))
    # the codec of each lossy round trip (the rescale's, the last step's); nothing drawn while webp_prob is 0
    codecs = ["webp" if w < cfg.webp_prob else "jpeg" for w in rng.random(2)] if cfg.webp_prob > 0 else ["jpeg"] * 2
    if cfg.h264_prob > 0:  # the last round trip as a video frame instead; nothing drawn while 0
        vh = rng.random()
        crf = int(rng.integers(cfg.h264_crf[0], cfg.h264_crf[1] + 1))
        if vh < cfg.h264_prob:
            codecs[1], q = "h264", crf
    if cfg.small_face_prob > 0:
        v = rng.random()
        eyes = float(rng.uniform(*cfg.small_face_eyes))
        if v < cfg.small_face_prob:
            sample.forgery = as_small_face(sample.forgery, eyes)
            info["small_face_eyes"] = round(eyes, 1)
    if cfg.rescale_prob > 0:
        v = rng.random(3)
        f = float(rng.uniform(*cfg.rescale))
        rq = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        if v[0] < cfg.rescale_prob:
            rq_used = rq if v[1] < cfg.rescale_jpeg_prob else None
            up = cv2.INTER_CUBIC if v[2] < 0.5 else cv2.INTER_LINEAR
            sample.forgery = rescale_round_trip(sample.forgery, f, rq_used, up, codecs[0])
            info["rescale"] = round(f, 3)
            if rq_used is not None:
                info[f"rescale_{codecs[0]}_quality"] = rq_used
    if u[2] < cfg.blur_prob:
        sample.forgery = gaussian_blur(sample.forgery, k)
        info["blur_kernel"] = k
    if cfg.sharpen_prob > 0:
        r = rng.random()
        amount = float(rng.uniform(*cfg.sharpen_amount))
        if r < cfg.sharpen_prob:
            sample.forgery = unsharp_mask(sample.forgery, amount)
            info["sharpen"] = round(amount, 2)
    if u[3] < cfg.noise_prob:
        sample.forgery = gaussian_noise(sample.forgery, var, rng)
        info["noise_var"] = round(var, 2)
    if cfg.picture_prob > 0:  # nothing drawn while 0: seeded samples of configs without it are unchanged
        v = rng.random()
        pic = draw_picture(cfg, rng)
    if u[4] < cfg.jpeg_prob:
        if cfg.picture_prob > 0 and v < cfg.picture_prob:
            sample.forgery = picture_round_trip(sample.forgery, *pic, q, codecs[1])
            info["picture"] = [round(pic[0], 3), round(pic[1], 1)]
        else:
            sample.forgery = compress(sample.forgery, q, codecs[1])
        info["h264_crf" if codecs[1] == "h264" else f"{codecs[1]}_quality"] = q
    return sample
