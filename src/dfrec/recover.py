"""The Python API of the main job: recover the source and target faces behind a face swap.

    >>> from dfrec import Recoverer
    >>> r = Recoverer.from_pretrained()          # the model bundled with dfrec
    >>> faces = r.recover("suspect.jpg")         # one FaceRecovery per face, largest first
    >>> faces[0].score_fake                      # probability that the face is fake, [0, 1]
    >>> faces[0].to_pil("target").save("target.png")

Pipeline per image: detect faces and 68 landmarks (``dfrec.faces``), align each face to the
model's canonical crop, run all crops through the DFREC model in one batch, embed the
forgery crop and both recovered faces with the identity network (:mod:`dfrec.metrics.idsim`),
and paste the recovered faces back into the original frame (:func:`dfrec.results.paste_faces`).
What comes back is data (:mod:`dfrec.results`); :mod:`dfrec.report` writes it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dfrec.device import select_device
from dfrec.errors import CheckpointError, InputError
from dfrec.io import as_rgb_uint8, to_float, to_uint8
from dfrec.metrics.idsim import IDSim, identity_scores
from dfrec.models import DFREC
from dfrec.results import FaceRecovery, ImageRecovery, TrackRecovery, VideoRecovery, paste_faces, verdict

#: Folder of the model shipped inside the package (``config.json`` + safetensors shards).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "default"

STAGES = ("detect", "align", "model", "identity", "paste")


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8."""
    return to_uint8(x.permute(1, 2, 0)).cpu().numpy()


def _synchronize(device: torch.device) -> None:
    """Wait for the work queued on a CUDA ``device`` (no-op elsewhere), for stage timings."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _area(box: np.ndarray) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


class Recoverer:
    """Runs face detection, alignment, the DFREC model and the identity network on images.

    Build it with :meth:`from_pretrained`; call :meth:`recover` per image. The model's
    semantic-guided masking uses random numbers drawn from a generator seeded with ``seed``
    at every call, so the same image gives the same result. ``detection_threshold`` is the
    HOG score threshold of :func:`dfrec.faces.detect_faces` (``None``: its default; higher
    means fewer false detections, and fewer small or hard faces); ``detection_upsample`` its
    HOG upsampling (``None``: its default, 1; 0 is several times faster but misses faces
    under about 80 px in a 1024-px picture). ``detector`` replaces the face detector built
    from those two settings: anything with a ``detect(image) -> list[Face]`` method, e.g.
    :class:`dfrec.faces.worker.IsolatedDetector`, which runs dlib in a child process so that
    a native crash costs one image (the CLI uses it). Faces of one image go
    through the model in batches of ``batch_size``. ``timings``
    holds the wall-clock seconds per stage of the last call (``detect``, ``align``,
    ``model``, ``identity``, ``paste``). :meth:`model_info` is what a report records of its
    models (checkpoint and dlib files with their SHA-256).
    """

    def __init__(
        self,
        model: DFREC,
        device: str | torch.device = "auto",
        checkpoint: str | os.PathLike | None = None,
        identity: torch.nn.Module | None = None,
        feather: float | None = None,
        seed: int = 0,
        detection_threshold: float | None = None,
        detection_upsample: int | None = None,
        batch_size: int = 16,
        detector: Any = None,
    ):
        from dfrec.faces.detect import FaceDetector

        self.device = select_device(device)
        self.model = model.to(self.device).eval()
        self.checkpoint = Path(checkpoint).resolve() if checkpoint is not None else None
        self._scorer = None if identity is None else IDSim(self.device, batch_size=None, encoder=identity)
        self._identity_given = identity is not None
        self.feather = feather
        self.seed = int(seed)
        self.detection_threshold = detection_threshold
        self.detection_upsample = detection_upsample
        self.batch_size = max(1, int(batch_size))
        if detector is None:
            kw: dict[str, Any] = {}
            if detection_threshold is not None:
                kw["threshold"] = float(detection_threshold)
            if detection_upsample is not None:
                kw["upsample"] = int(detection_upsample)
            detector = FaceDetector(**kw)
        self.detector = detector
        self.timings: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike | None = None, device: str | torch.device = "auto", **kwargs: Any
    ) -> "Recoverer":
        """Load a checkpoint folder (``config.json`` + safetensors); ``None`` = the bundled model.

        Raises :class:`CheckpointError` (from :meth:`dfrec.models.DFREC.from_pretrained`) when
        the folder is missing or not a checkpoint.
        """
        if path is None:
            path = DEFAULT_CHECKPOINT
            if not (path / "config.json").is_file():
                raise CheckpointError(
                    f"the bundled default model is missing from this install ({path}); "
                    "pass a checkpoint folder with --checkpoint (Python: Recoverer.from_pretrained(path))"
                )
        return cls(DFREC.from_pretrained(path), device=device, checkpoint=path, **kwargs)

    @property
    def image_size(self) -> int:
        """Side of the square crop the model takes (224 unless its config says otherwise)."""
        return int(self.model.config.image_size)

    @property
    def model_config(self) -> dict[str, Any]:
        """The model's configuration (:class:`dfrec.models.DFRECConfig`) as a JSON-ready dict."""
        return self.model.config.to_dict()

    def model_info(self) -> dict[str, Any]:
        """What a report records about the models behind this recoverer: the ``model_info`` of
        :func:`dfrec.report.writer.write_image_report` and ``write_video_report``.

        :func:`dfrec.report.provenance.model_record`: the checkpoint folder, path, size and
        SHA-256 of its every file, the model's config and training metadata, and ``dlib_files``:
        dlib's landmark model, its CNN face detector (when the detector can run it) and the
        identity weights. Hashes are cached per file (path, mtime, size): calling it per image
        costs no rehashing.
        """
        from dfrec.report.provenance import dlib_files, model_record

        det = getattr(self.detector, "detector", self.detector)  # an IsolatedDetector wraps a FaceDetector
        cnn = "cnn" in getattr(det, "detectors", ("cnn",)) or float(getattr(det, "verify_below", 0) or 0) > 0
        given = self._identity_given
        files = dlib_files(identity=not given, cnn=cnn)
        if given:
            files.append({"role": "identity", "name": type(self._scorer.encoder).__name__, "path": None,
                          "note": "an identity network given to Recoverer(identity=...): no file to hash"})
        return model_record(self.checkpoint, self.model_config, dlib=files)

    @property
    def identity(self) -> IDSim:
        """The identity scorer (dlib ResNet port, :class:`dfrec.metrics.idsim.IDSim`), loaded on first use."""
        if self._scorer is None:
            # the crops come from align_face(size=image_size) with its default margin
            self._scorer = IDSim(self.device, batch_size=None, size=self.image_size)
        return self._scorer

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def run_crops(self, crops: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """Run aligned crops through the model and the identity network.

        ``crops``: ``(N, S, S, 3) uint8`` or ``(N, 3, S, S)`` float in [0, 1]. Returns CPU
        tensors: ``forgery``, ``source``, ``target`` ``(N, 3, S, S)`` in [0, 1], ``map``
        ``(N, 1, S, S)`` in [0, 1], ``score_fake`` ``(N,)`` probability of fake, and
        ``emb_forgery``, ``emb_source``, ``emb_target`` ``(N, 128)``. The model's ``mask`` and
        ``logit`` become ``map`` and ``score_fake`` here, the names they keep up to ``result.json``.
        ``source_weight`` ``(N, 1, S, S)`` in [0, 1] is the region the SIRM saw
        (:meth:`dfrec.models.DFREC.sirm_weight` of the map). A model that composes its target
        (``compose``) adds ``target_raw`` ``(N, 3, S, S)`` (the TIRM's own output) and
        ``target_weight`` ``(N, 1, S, S)`` (its weight in the composite,
        :meth:`dfrec.models.DFREC.blend_weight`), both in [0, 1].
        """
        if isinstance(crops, np.ndarray):
            x = to_float(torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2))
        else:
            x = crops.float()
        x = x.to(self.device)
        t0 = time.perf_counter()
        # the MAE's masking draws random numbers: a fixed seed per call makes results reproducible
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        out = self.model(x, generator=gen)
        source, target = out["source"].clamp(0, 1), out["target"].clamp(0, 1)
        mask = out["mask"].clamp(0, 1)
        # what pasting needs: the region the SIRM saw, and a composed target's parts
        weights = {"source_weight": self.model.sirm_weight(mask).float().cpu()}
        if "target_raw" in out:  # the target is the forgery outside the map
            weights.update(target_raw=out["target_raw"].clamp(0, 1).float().cpu(),
                           target_weight=self.model.blend_weight(mask).float().cpu())
        if mask.shape[-2:] != x.shape[-2:]:
            mask = torch.nn.functional.interpolate(mask, size=x.shape[-2:], mode="bilinear", align_corners=False)
        score = torch.sigmoid(out["logit"].reshape(-1).float())
        _synchronize(self.device)  # CUDA runs asynchronously: wait, so each stage is timed alone
        t1 = time.perf_counter()
        emb = self.identity.embed(torch.cat([x, source, target]))
        n = x.shape[0]
        _synchronize(self.device)
        t2 = time.perf_counter()
        self.timings["model"] += t1 - t0
        self.timings["identity"] += t2 - t1
        return {
            "forgery": x.cpu(),
            "source": source.float().cpu(),
            "target": target.float().cpu(),
            "map": mask.float().cpu(),
            "score_fake": score.cpu(),
            "emb_forgery": emb[:n],
            "emb_source": emb[n : 2 * n],
            "emb_target": emb[2 * n :],
            **weights,
        }

    def recover(
        self, image: Any, max_faces: int | None = None, paste: bool = True
    ) -> list[FaceRecovery]:
        """Recover source and target of every face in ``image`` (path, PIL image or array).

        Faces come largest first; ``max_faces`` keeps only the first N. Returns an empty
        list when no face is found. ``paste=True`` fills each face's ``source_frame`` /
        ``target_frame`` (that face alone pasted back; :meth:`recover_image` pastes them all
        into one picture). Raises :class:`dfrec.errors.InputError` for unreadable files.
        """
        from dfrec.faces import align_face

        self.timings = dict.fromkeys(STAGES, 0.0)
        img = as_rgb_uint8(image)
        t0 = time.perf_counter()
        faces = self.detector.detect(img)
        if max_faces is not None:
            faces = faces[: max(0, int(max_faces))]
        t1 = time.perf_counter()
        self.timings["detect"] = t1 - t0
        if not faces:
            return []
        size = self.image_size
        aligned = [align_face(img, f.landmarks, size=size) for f in faces]
        self.timings["align"] = time.perf_counter() - t1
        crops = np.stack([a.image for a in aligned])
        parts = [self.run_crops(crops[i : i + self.batch_size]) for i in range(0, len(crops), self.batch_size)]
        res = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        emb = res["emb_forgery"], res["emb_source"], res["emb_target"]
        scores = identity_scores(emb[0], emb[2])  # the face as seen vs its recovered target
        out = []
        for i, (f, a) in enumerate(zip(faces, aligned)):
            out.append(
                FaceRecovery(
                    index=i,
                    box=np.asarray(f.box, dtype=np.float32),
                    landmarks=np.asarray(f.landmarks, dtype=np.float32),
                    detection_score=float(getattr(f, "score", 1.0)),
                    matrix=np.asarray(a.matrix, dtype=np.float64),
                    forgery=np.ascontiguousarray(a.image),
                    source=_to_uint8(res["source"][i]),
                    target=_to_uint8(res["target"][i]),
                    map=res["map"][i, 0].numpy().astype(np.float32),
                    source_weight=res["source_weight"][i, 0].numpy().astype(np.float32),
                    target_raw=_to_uint8(res["target_raw"][i]) if "target_raw" in res else None,
                    target_weight=res["target_weight"][i, 0].numpy().astype(np.float32) if "target_weight" in res else None,
                    score_fake=float(res["score_fake"][i]),
                    idsim=float(scores["idsim"][i]),
                    l2=float(scores["l2"][i]),
                    embeddings={
                        "forgery": emb[0][i].numpy(),
                        "source": emb[1][i].numpy(),
                        "target": emb[2][i].numpy(),
                    },
                )
            )
        if paste:
            t2 = time.perf_counter()
            for rec in out:
                self._paste_alone(img, rec)
            self.timings["paste"] = time.perf_counter() - t2
        return out

    def recover_image(self, image: Any, max_faces: int | None = None) -> ImageRecovery:
        """Recover every face of ``image`` (path, PIL image or array) and paste all recovered
        sources, and all recovered targets, back into it: what a report of the image shows."""
        img = as_rgb_uint8(image)
        faces = self.recover(img, max_faces=max_faces, paste=False)
        if not faces:
            return ImageRecovery(img, [])
        t0 = time.perf_counter()
        frames = {which: paste_faces(img, faces, which, self.feather) for which in ("source", "target")}
        self.timings["paste"] = time.perf_counter() - t0
        return ImageRecovery(img, faces, frames["source"], frames["target"])

    def _paste_alone(self, image: np.ndarray, face: FaceRecovery) -> None:
        """Fill ``face.source_frame`` / ``target_frame``: ``image`` with this face's recovery alone pasted back."""
        face.source_frame = paste_faces(image, [face], "source", self.feather)
        face.target_frame = paste_faces(image, [face], "target", self.feather)

    def recover_video(
        self,
        path: str | os.PathLike,
        fps: float = 1.0,
        max_faces: int | None = None,
        max_frames: int | None = None,
        progress: bool = False,
        on_frame: Callable[[int, int], None] | None = None,
    ) -> "VideoRecovery":
        """Recover faces in a video sampled at ``fps`` frames per second, grouped by track.

        Faces are linked across sampled frames by box overlap (:class:`dfrec.video.FaceTracker`).
        Each track keeps every frame's score. Its verdict is its mean score's, and its
        representative is the frame where the face is largest *among the frames whose own score
        gives the same verdict*, with the recovered faces pasted back into that frame: the
        pictures a report shows then never contradict the track's verdict (the largest face of
        all may be the one frame that does). Two candidate frames per track are held while
        decoding, the largest face called fake and the largest called real. The sampled frame
        with the most faces is kept too (the report's numbered picture of the tracks).
        ``on_frame(done, expected)`` is called after every sampled frame (progress reports).
        """
        from tqdm.auto import tqdm

        from dfrec.video import FaceTracker, sample_frames, video_info

        info = video_info(path)
        expected = info.frame_count if fps <= 0 else min(info.frame_count, int(np.ceil(info.duration * fps)))
        if max_frames is not None:
            expected = min(expected, max_frames)
        tracker = FaceTracker()
        tracks: dict[int, TrackRecovery] = {}
        # per track and verdict, the largest face so called: (recovery, frame index, time, image)
        candidates: dict[int, dict[str, tuple[FaceRecovery, int, float, np.ndarray]]] = {}
        sampled = with_faces = 0
        busiest: tuple[int, int, float, np.ndarray | None] = (0, -1, 0.0, None)  # faces, index, time, image
        bar = tqdm(total=expected or None, desc=Path(path).name, unit="frame", disable=not progress, leave=False)
        for frame in sample_frames(path, fps=fps, max_frames=max_frames):
            sampled += 1
            try:
                recs = self.recover(frame.image, max_faces=max_faces, paste=False)
            except InputError as e:  # say which frame (all frames share the size, so usually the first)
                raise InputError(f"frame {frame.index} ({frame.time:.2f} s): {e}") from None
            with_faces += bool(recs)
            if len(recs) > busiest[0]:
                busiest = (len(recs), frame.index, frame.time, frame.image)
            ids = tracker.update(np.stack([r.box for r in recs]) if recs else np.zeros((0, 4)), frame.index)
            for tid, rec in zip(ids, recs):
                tr = tracks.get(tid)
                if tr is None:
                    tr = tracks[tid] = TrackRecovery(track_id=tid, face=rec, frame_index=frame.index, frame_time=frame.time)
                score = round(rec.score_fake, 6)  # as the frame records it, so the verdicts below agree with the mean's
                tr.frames.append(
                    {"frame": frame.index, "time": round(frame.time, 3), "score_fake": score,
                     "idsim": round(rec.idsim, 6), "box": [round(float(v), 1) for v in rec.box]}
                )
                held = candidates.setdefault(tid, {})
                said = verdict(score)
                if said not in held or _area(rec.box) > _area(held[said][0].box):
                    held[said] = (rec, frame.index, frame.time, frame.image)
            bar.update(1)
            if on_frame is not None:
                on_frame(sampled, max(expected, sampled))
        bar.close()
        for tid, tr in tracks.items():
            held = candidates[tid]
            # a mean at or above the threshold has a frame at or above it, and one below has one below
            rec, tr.frame_index, tr.frame_time, image = held.get(verdict(tr.score_fake)) or next(iter(held.values()))
            tr.face = rec
            self._paste_alone(image, rec)
        ordered = sorted(tracks.values(), key=lambda t: (-len(t.frames), t.track_id))
        for i, tr in enumerate(ordered):
            tr.face.index = i
        return VideoRecovery(info=info, frames_sampled=sampled, frames_with_faces=with_faces, tracks=ordered,
                             busiest_frame=busiest[3], busiest_frame_index=busiest[1], busiest_frame_time=busiest[2])
