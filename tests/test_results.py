"""dfrec.results: the numbers of a recovered face as they reach result.json."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from dfrec.results import FaceRecovery


def _face(embeddings: dict) -> FaceRecovery:
    z3, z2 = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32)
    return FaceRecovery(index=0, box=np.zeros(4), landmarks=np.zeros((68, 2)), detection_score=1.0,
                        matrix=np.eye(2, 3), forgery=z3, source=z3, target=z3, map=z2, score_fake=0.9,
                        idsim=0.2, l2=0.7, embeddings=embeddings)


def test_source_vs_target_is_the_centred_identity_similarity_and_dlibs_rule():
    """Two unrelated people: raw cosines of dlib embeddings sit near 0.9 for anyone, so the JSON
    gives the centred IDSim (≈ 0 here), as every other identity similarity of the report."""
    from dfrec.faces.identity import mean_embedding

    mu = mean_embedding().numpy().astype(np.float64)
    u, v = np.zeros(128), np.zeros(128)
    u[0], v[1] = 0.3, 0.3  # orthogonal offsets from the mean face: unrelated people
    src, tgt = (mu + u).astype(np.float32), (mu + v).astype(np.float32)
    assert float(src @ tgt / np.linalg.norm(src) / np.linalg.norm(tgt)) > 0.8  # what the raw cosine said
    d = _face({"forgery": src, "source": src, "target": tgt}).to_dict()
    assert d["idsim_recovered_source_vs_target"] == pytest.approx(0.0, abs=1e-5)
    assert d["l2_recovered_source_vs_target"] == pytest.approx(0.3 * 2**0.5, abs=1e-5)
    assert d["dlib_same_person_recovered_source_vs_target"] is True  # 0.42 < 0.6
    same = _face({"source": src, "target": src}).to_dict()
    assert same["idsim_recovered_source_vs_target"] == pytest.approx(1.0)
    assert same["l2_recovered_source_vs_target"] == 0.0
    far = _face({"source": mu + 3 * u, "target": mu + 3 * v}).source_vs_target()
    assert far["same_person"] is False and far["l2"] > 0.6
    none = _face({}).to_dict()
    assert none["idsim_recovered_source_vs_target"] is None and none["dlib_same_person_recovered_source_vs_target"] is None


def test_face_size_and_the_small_face_caveat():
    """A face at the training faces' size has no caveat; the same face a third as large in the
    picture (eyes ~14 px apart) is called small, with its size and the training range in words."""
    from dfrec.faces.align import alignment_matrix, canonical_landmarks, crop_scale, eye_distance
    from dfrec.results import SMALL_FACE_EYES_PX, input_caveats, training_faces

    ref = training_faces()["eye_distance_px"]
    assert 25 < ref["p1"] < ref["p50"] < ref["p99"] < 70  # LFW's faces, as dfrec detects them
    lfw_like = canonical_landmarks(224) / 1.3 + 40  # LFW reaches the crop enlarged about 1.3 times
    assert ref["p1"] < eye_distance(lfw_like) < ref["p99"]
    assert crop_scale(alignment_matrix(lfw_like)) == pytest.approx(1.3, rel=1e-3)
    assert input_caveats(lfw_like) == []

    small = lfw_like / 3
    assert eye_distance(small) == pytest.approx(eye_distance(lfw_like) / 3)
    assert crop_scale(alignment_matrix(small)) == pytest.approx(3.9, rel=1e-3)
    (c,) = input_caveats(small)
    assert c["code"] == "small_face" and eye_distance(small) < SMALL_FACE_EYES_PX
    assert f"{eye_distance(small):.0f} px apart" in c["message"] and f"{ref['p1']:.0f}-{ref['p99']:.0f} px" in c["message"]
    d = _face({}).to_dict()  # every face's JSON carries its size and caveats
    assert {"eye_distance_px", "crop_scale", "caveats"} <= d.keys()


@pytest.mark.parametrize("yaw, pitch, codes", [(0, 0, []), (20, 0, []), (-35, 0, ["turned_head"]), (0, -30, ["tilted_head"]),
                                               (0, 25, ["tilted_head"])])
def test_head_pose_caveats(yaw, pitch, codes):
    """The 3D mean face posed and projected (a real head's landmarks at a known pose): turned or
    tilted beyond the training faces, it gets a caveat naming the angle; within them, none."""
    from dfrec.metrics.pose import euler_to_rotation, project_template
    from dfrec.results import head_pose_deg, input_caveats

    from dfrec.faces.align import eye_distance

    scale = 45 / eye_distance(project_template(euler_to_rotation(0, 0, 0)))  # a frontal face's eyes 45 px apart
    lm = project_template(euler_to_rotation(yaw, pitch, 0)) * scale
    est = head_pose_deg(lm)
    assert est[0] == pytest.approx(yaw, abs=3) and est[1] == pytest.approx(pitch, abs=5)
    assert head_pose_deg(lm * 0.3 + 50) == pytest.approx(est, abs=0.5)  # the same head smaller: the same pose
    found = input_caveats(lm, est)
    assert [c["code"] for c in found] == codes
    for c in found:
        angle = abs(est[0]) if c["code"] == "turned_head" else abs(est[1])
        assert f"about {angle:.0f}°" in c["message"] and "never tested" in c["message"]
    assert head_pose_deg(np.zeros((68, 2))) is None  # degenerate landmarks: no pose, no caveat


def test_a_turned_head_is_not_called_small_for_its_closer_eyes():
    """Turned 45°, a head whose eyes would be 25 px apart facing the camera shows them ~18 px apart:
    not a small face (only turned); the same face frontal at 17 px is small, and so is a turned
    head whose eyes would be 17 px apart facing the camera."""
    from dfrec.faces.align import eye_distance
    from dfrec.metrics.pose import euler_to_rotation, project_template
    from dfrec.results import SMALL_FACE_EYES_PX, head_pose_deg, input_caveats

    def face(yaw: float, frontal_eyes: float) -> np.ndarray:
        scale = frontal_eyes / eye_distance(project_template(euler_to_rotation(0, 0, 0)))
        return project_template(euler_to_rotation(yaw, 0, 0)) * scale + 100

    turned = face(45, 25)
    assert eye_distance(turned) < SMALL_FACE_EYES_PX  # closer in the picture than the threshold
    assert [c["code"] for c in input_caveats(turned, head_pose_deg(turned))] == ["turned_head"]
    assert [c["code"] for c in input_caveats(turned)] == ["small_face"]  # without a pose: eyes as seen
    assert [c["code"] for c in input_caveats(face(0, 17), head_pose_deg(face(0, 17)))] == ["small_face"]
    small_turned = face(45, 17)
    (size, _) = sorted(input_caveats(small_turned, head_pose_deg(small_turned)), key=lambda c: c["code"] != "small_face")
    assert size["code"] == "small_face" and "facing the camera" in size["message"]


def test_a_composed_target_is_pasted_by_its_weight_and_the_picture_keeps_its_pixels(fixture_dir):
    """A face larger than the crop: pasting the whole composed target would bring the picture's own
    pixels back through the 224-px crop (blurred); paste_faces composes at the picture's
    resolution instead: the TIRM's output where the weight is 1, the picture untouched where 0."""
    from dfrec.faces import align_face, detect_faces
    from dfrec.io import read_image
    from dfrec.results import paste_faces

    img = read_image(fixture_dir / "obama.jpg")
    face = detect_faces(img)[0]
    al = align_face(img, face.landmarks, size=224)
    assert np.sqrt(abs(np.linalg.det(al.matrix[:, :2]))) < 0.6  # the crop shrinks this face
    yy, xx = np.mgrid[:224, :224]
    weight = ((yy - 130) ** 2 + (xx - 112) ** 2 < 40**2).astype(np.float32)  # a disc on the mouth
    raw = np.zeros((224, 224, 3), np.uint8)
    raw[..., 2] = 255  # what the TIRM painted: pure blue
    target = (weight[..., None] * raw + (1 - weight[..., None]) * al.image + 0.5).astype(np.uint8)
    rec = FaceRecovery(index=0, box=np.asarray(face.box), landmarks=face.landmarks, detection_score=1.0,
                       matrix=al.matrix, forgery=al.image, source=al.image, target=target, map=weight,
                       score_fake=0.9, idsim=0.2, l2=0.7, target_raw=raw, target_weight=weight)
    frame = paste_faces(img, [rec], "target")
    whole = paste_faces(img, [dataclasses.replace(rec, target_raw=None, target_weight=None)], "target")
    # where the disc lands in the picture (its centre, mapped back), the frame is the TIRM's blue
    inv = cv2.invertAffineTransform(al.matrix)
    cx, cy = (inv @ np.array([112.0, 130.0, 1.0])).round().astype(int)
    assert np.abs(frame[cy, cx].astype(int) - [0, 0, 255]).max() <= 2
    # outside the disc's footprint (dilated for the resampling), the picture keeps its pixels exactly
    disc = cv2.warpAffine(weight, inv, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR)
    outside = cv2.dilate((disc > 0).astype(np.uint8), np.ones((7, 7), np.uint8)) == 0
    np.testing.assert_array_equal(frame[outside], img[outside])
    # the whole-crop paste changed those pixels: the face came back through the crop
    changed = np.abs(whole.astype(int) - img.astype(int)).max(axis=2)[outside]
    assert (changed > 2).mean() > 0.02


def test_faces_are_ordered_by_score_with_ties_in_their_own_order():
    from dfrec.results import by_score

    faces = [{"score_fake": s} for s in (0.2, 0.9, 0.6, 0.9, 0.0)]
    assert by_score(faces) == [1, 3, 2, 0, 4]
    assert by_score([]) == []


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_the_compression_caveat_follows_the_measured_score_and_recovery(codec):
    """A picture last saved lossily gets the <codec>_compressed caveat where, at the nearest
    measured quality (assets/<codec>_fake_score.json), the bundled model's fake score caught fewer
    swaps or called more untouched photos swapped, or the recovered target lost over a quarter of
    its lead over the forgery (paired, ≥ 2 s.e.), and quotes that measurement; none where all held."""
    from dfrec.results import (COMPRESSION_CAVEAT_CAUGHT, COMPRESSION_CAVEAT_LEAD_KEPT, COMPRESSION_CAVEAT_REALS_RISE,
                               LOSSY_CODECS, compression_caveat, compression_measurement, input_caveats)

    ref = compression_measurement(codec)
    rec = ref["recovery"]
    clean = rec["as_it_is"]["lead"]
    reals0 = ref["as_it_is"]["reals_called_swapped"]
    score_weak = {int(q) for q, r in ref[codec].items() if r["swaps_caught"] < COMPRESSION_CAVEAT_CAUGHT
                  or r["reals_called_swapped"] - reals0 >= COMPRESSION_CAVEAT_REALS_RISE - 1e-9}
    lead_weak = {int(q) for q, r in rec[codec].items()
                 if r["lead"] < COMPRESSION_CAVEAT_LEAD_KEPT * clean and -r["lead_change"] >= 2 * r["lead_change_se"]}
    for q in score_weak:
        c = compression_caveat(codec, q)
        assert c["code"] == f"{codec}_compressed" and f"saved as {LOSSY_CODECS[codec]} at about quality {q}" in c["message"]
        assert f"caught {ref[codec][str(q)]['swaps_caught']:.0%}" in c["message"]
    for q in lead_weak:
        assert f"fell from {clean:.3f} to {rec[codec][str(q)]['lead']:.3f}" in compression_caveat(codec, q)["message"]
    for q in {int(q) for q in ref[codec]} & {int(q) for q in rec[codec]} - score_weak - lead_weak:
        assert compression_caveat(codec, q) is None, q  # measured both ways and held both ways
    lm = np.array([[x, y] for x, y in np.random.default_rng(0).uniform(60, 160, (68, 2))], np.float32)
    weak = min(score_weak | lead_weak)
    assert f"{codec}_compressed" in [c["code"] for c in input_caveats(lm, None, (codec, weak))]
    assert not [c for c in input_caveats(lm, None, None) if c["code"].endswith("_compressed")]


@pytest.mark.parametrize("codec, encoder, said, top, found_in", [
    ("h264", "x264", "a quantiser (QP) of {q}", 51, "slice_headers"),
    ("hevc", "x265", "a quantiser (QP) of {q}", 51, "slice_headers"),
    ("vp9", "libvpx", "a quantiser index (base_q_idx) of {q}", 255, "frame_headers"),
    ("av1", "SVT-AV1", "a quantiser index (base_q_idx) of {q}", 255, "frame_headers"),
])
def test_the_video_caveat_goes_by_the_video_quantiser(codec, encoder, said, top, found_in):
    """A video's <codec>_compressed caveat quotes the measured CRF whose clips' quantiser (QP; VP9's and
    AV1's base_q_idx) is nearest the video's, where the fake score or the recovered target weakened there;
    lossy_save takes the codec and quantiser from result.json's video_encoding."""
    from dfrec.results import (COMPRESSION_CAVEAT_CAUGHT, COMPRESSION_CAVEAT_LEAD_KEPT, COMPRESSION_CAVEAT_REALS_RISE,
                               compression_caveat, compression_measurement, input_caveats, lossy_save)

    ref = compression_measurement(codec)
    rec = ref["recovery"]
    clean = rec["as_it_is"]["lead"]
    qps = [row["qp"] for row in ref[codec].values()]
    assert qps == sorted(qps) and len(set(qps)) == len(qps)  # a coarser CRF, a higher QP
    for crf, row in ref[codec].items():
        r = rec[codec][crf]
        weak = (row["swaps_caught"] < COMPRESSION_CAVEAT_CAUGHT
                or row["reals_called_swapped"] - ref["as_it_is"]["reals_called_swapped"] >= COMPRESSION_CAVEAT_REALS_RISE
                or (r["lead"] < COMPRESSION_CAVEAT_LEAD_KEPT * clean and -r["lead_change"] >= 2 * r["lead_change_se"]))
        c = compression_caveat(codec, row["qp"])
        assert (c is not None) == weak, crf
        if c:
            assert c["code"] == f"{codec}_compressed" and said.format(q=f"{row['qp']:g}") in c["message"]
            quantiser = "base_q_idx" if codec in ("vp9", "av1") else "QP"
            assert f"clips at {encoder}'s CRF {crf} (a median {quantiser} of {row['qp']})" in c["message"]
    near = [row for row in ref[codec].values() if COMPRESSION_CAVEAT_CAUGHT - 0.01 < row["swaps_caught"] < COMPRESSION_CAVEAT_CAUGHT]
    for row in near:  # just under the threshold: a decimal, not a "97%" that would seem to meet it
        assert f"caught {row['swaps_caught']:.1%}" in compression_caveat(codec, row["qp"])["message"]
    coarsest = compression_caveat(codec, top)  # the scale's top, beyond the rows
    last = max(ref[codec], key=lambda k: ref[codec][k]["qp"])
    assert coarsest is not None and f"CRF {last} " in coarsest["message"]  # beyond the rows: the nearest
    assert lossy_save({"kind": "video", "video_encoding": {"codec": codec, "qp": 27.5}}) == (codec, 27.5, found_in)
    assert lossy_save({"kind": "video", "codec": "av01"}) is None
    lm = np.random.default_rng(0).uniform(60, 160, (68, 2)).astype(np.float32)
    assert f"{codec}_compressed" in [c["code"] for c in input_caveats(lm, None, (codec, float(top), found_in))]


def test_which_jpeg_and_webp_qualities_get_the_caveat():
    """What the rule makes of the shipped measurements: the web's commonest JPEG quality (75)
    and a quality-60 JPEG, whose score held but whose recovery did not, get the caveat, a camera's
    95 does not; the nearest measured quality is the one quoted; a lossless WebP or a PNG has no
    lossy save to caveat."""
    from dfrec.results import compression_caveat, lossy_save

    assert compression_caveat("jpeg", 75) and compression_caveat("jpeg", 95) is None
    sixty = compression_caveat("jpeg", 60)["message"]
    assert "still caught" in sixty and "the recovered faces are weaker here" in sixty
    assert compression_caveat("jpeg", 78)["message"].count("photos saved at quality 80") == 1
    eighty_two = compression_caveat("jpeg", 82)["message"]  # the score weakened, the recovery (at 85) did not
    assert "kept most of its lead" in eighty_two and "weaker too" not in eighty_two
    tables = {"jpeg_quality": {"quality": 95, "standard_tables": True}}
    assert lossy_save(tables) == ("jpeg", 95, "jpeg_tables")
    assert lossy_save({"webp_encoding": {"lossless": False, "quality": 52, "quantizers": [1]}}) == ("webp", 52, "vp8_header")
    assert lossy_save({"webp_encoding": {"lossless": True}}) is None and lossy_save({"format": "PNG"}) is None
    # the blocks of a JPEG save found in the pixels: a PNG's only save, or a JPEG's earlier, coarser one
    assert lossy_save({"format": "PNG", "jpeg_history": {"quality": 70}}) == ("jpeg", 70, "jpeg_blocks")
    assert lossy_save({**tables, "jpeg_history": {"quality": 75}}) == ("jpeg", 75, "jpeg_blocks_before")
    assert lossy_save({**tables, "jpeg_history": {"quality": 92}}) == ("jpeg", 95, "jpeg_tables")  # the same save
    assert compression_caveat("jpeg", 95, "jpeg_tables") is None
    assert "before its last save" in compression_caveat("jpeg", 75, "jpeg_blocks_before")["message"]


@pytest.mark.parametrize("codec, said, measured, top, heif", [
    ("heic", "saved as HEIC at a quantiser (QP) of {q} (read from its HEVC slice headers",
     "saved as HEIC at quality {key} (libheif's x265; a median QP of {q})", 51, "hevc"),
    ("avif", "saved as AVIF at a quantiser index (base_q_idx) of {q} (read from its AV1 frame header",
     "saved as AVIF at quality {key} (Pillow's libavif; a median base_q_idx of {q})", 255, "av1"),
])
def test_the_heic_and_avif_caveats_go_by_the_quantiser_their_headers_state(codec, said, measured, top, heif):
    """A HEIC (AVIF) photo's heic_compressed (avif_compressed) caveat quotes the measured quality whose
    saves' QP (base_q_idx) is nearest the photo's, where the fake score or the recovered target
    weakened there, and names the quantiser read."""
    from dfrec.results import (COMPRESSION_CAVEAT_CAUGHT, COMPRESSION_CAVEAT_LEAD_KEPT, COMPRESSION_CAVEAT_REALS_RISE,
                               compression_caveat, compression_measurement, lossy_save)

    ref = compression_measurement(codec)
    rec, clean = ref["recovery"], ref["recovery"]["as_it_is"]["lead"]
    qps = [row["qp"] for row in ref[codec].values()]
    assert qps == sorted(qps) and len(set(qps)) == len(qps)  # finest first: a lower quality, a coarser QP
    for quality, row in ref[codec].items():
        r = rec[codec][quality]
        weak = (row["swaps_caught"] < COMPRESSION_CAVEAT_CAUGHT
                or row["reals_called_swapped"] - ref["as_it_is"]["reals_called_swapped"] >= COMPRESSION_CAVEAT_REALS_RISE
                or (r["lead"] < COMPRESSION_CAVEAT_LEAD_KEPT * clean and -r["lead_change"] >= 2 * r["lead_change_se"]))
        c = compression_caveat(codec, row["qp"])
        assert (c is not None) == weak, quality
        if c:
            assert c["code"] == f"{codec}_compressed"
            assert said.format(q=f"{row['qp']:g}") in c["message"]
            assert measured.format(key=quality, q=row["qp"]) in c["message"]
    assert compression_caveat(codec, top) is not None  # the scale's top: the coarsest row, which weakened
    found_in = {"heic": "heif_slice_headers", "avif": "avif_frame_header"}[codec]
    assert lossy_save({"heif_encoding": {"codec": heif, "qp": 27.0}}) == (codec, 27.0, found_in)


def test_an_x264_or_x265_video_goes_by_the_crf_its_stream_states():
    """x264 writes each slice's first macroblock's QP, which its adaptive quantisation moves far from
    the frame's (CRF 23 clips read a median slice QP of 13 or 33 by their top-left corner,
    benchmarks/video_quantiser_reading.py): where the stream states x264's or x265's CRF, the caveat
    quotes the row measured at that CRF; where x264 states none (an average bitrate), the slice QP,
    called rough; x264 at a constant QP (no adaptive quantisation) and other encoders, the slice QP."""
    from dfrec.results import compression_caveat, compression_measurement, lossy_save

    def video(codec, slice_qp, **encoder):
        return {"kind": "video", "video_encoding": {"codec": codec, "qp": slice_qp, "encoder": encoder or None}}

    assert lossy_save(video("h264", 13.0, name="x264", crf=23.0, aq="1:1.00")) == ("h264", 23.0, "x264_crf")
    assert lossy_save(video("hevc", 30.5, name="x265", crf=23.0, aq="2")) == ("hevc", 23.0, "x265_crf")
    assert lossy_save(video("h264", 13.0, name="x264", crf=None, bitrate_kbps=800.0, aq="1:1.00")) == (
        "h264", 13.0, "x264_slice_headers")
    assert lossy_save(video("h264", 31.0, name="x264", crf=None, qp=30.0, aq="0")) == ("h264", 31.0, "slice_headers")
    assert lossy_save(video("h264", 31.0)) == ("h264", 31.0, "slice_headers")  # no settings in the stream
    assert lossy_save(video("hevc", 31.0, name="x264", crf=23.0)) == ("hevc", 31.0, "slice_headers")  # not the asset's

    rows = compression_measurement("h264")["h264"]
    stated = compression_caveat("h264", 23.0, "x264_crf")["message"]
    assert stated.startswith("encoded as H.264 by x264 at CRF 23 (the setting x264 wrote into the stream): ")
    assert f"clips at x264's CRF 23, dfrec's bundled model caught {rows['23']['swaps_caught']:.0%}" in stated
    by_slice = compression_caveat("h264", 13.0, "x264_slice_headers")["message"]  # the same clip by its slice QP
    assert "by x264 at a quantiser (QP) of about 13 " in by_slice and "clips at x264's CRF 18 " in by_slice
    for crf, row in ((20.0, "18"), (20.5, "23"), (60.0, "45")):  # nearest CRF measured, a tie to the coarser
        assert f"clips at x264's CRF {row}, " in compression_caveat("h264", crf, "x264_crf")["message"]
    hevc = compression_measurement("hevc")
    crf = max(hevc["hevc"], key=int)
    said = compression_caveat("hevc", float(crf), "x265_crf")
    assert said is None or (f"by x265 at CRF {crf} " in said["message"] and "median QP" not in said["message"])
