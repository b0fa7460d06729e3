"""Gallery library: faiss index types, SQLite persistence, grouping by person, incremental adds,
removal, crash recovery of the index, the calibrated threshold."""

from __future__ import annotations

import numpy as np
import pytest

from dfrec.errors import ConfigError, InputError
from dfrec.gallery import index as vindex
from dfrec.gallery.calibration import calibrate, load_threshold, threshold_at
from dfrec.gallery.gallery import INDEX_NAME, Gallery, GalleryEntry, to_space
from dfrec.faces.identity import idsim, mean_embedding


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def fake_embeddings(n_people: int, per_person: int, seed: int = 0, spread: float = 0.15) -> tuple[np.ndarray, list[str]]:
    """Raw 'dlib-like' embeddings: people are random directions around the mean embedding."""
    rng = np.random.default_rng(seed)
    mu = mean_embedding().numpy()
    centres = unit(rng.normal(size=(n_people, 128))) * 0.6
    embs, names = [], []
    for p in range(n_people):
        for _ in range(per_person):
            embs.append(mu + centres[p] + rng.normal(scale=spread * 0.6 / np.sqrt(128), size=128))
            names.append(f"person_{p:03d}")
    return np.asarray(embs, np.float32), names


def entries(embs: np.ndarray, names: list[str], tag: str = "") -> list[GalleryEntry]:
    return [GalleryEntry(name=n, source=f"/photos/{n}/{i}{tag}.jpg", sha256=f"{tag}{i:064d}"[-64:], bytes=1000 + i,
                         embedding=e, thumbnail=b"\xff\xd8jpeg") for i, (e, n) in enumerate(zip(embs, names))]


# ---------------------------------------------------------------------------------------- index layer
@pytest.mark.parametrize("kind", vindex.INDEX_TYPES)
def test_index_finds_nearest_vectors(kind):
    rng = np.random.default_rng(1)
    x = unit(rng.normal(size=(3000, 128)))
    ids = np.arange(3000, dtype=np.int64) * 7 + 5  # the index returns our ids, not positions
    index = vindex.build_index(kind, x, ids)
    q = unit(x[:200] + rng.normal(scale=0.02, size=(200, 128)))
    scores, found = vindex.search(index, q, 10)
    exact = np.argsort(-(q @ x.T), axis=1)[:, 0]
    recall = float(np.mean(found[:, 0] == ids[exact]))
    if kind == "flat":
        assert recall == 1.0
        np.testing.assert_allclose(scores[:, 0], np.sum(q * x[exact], axis=1), atol=1e-5)
    else:
        assert recall >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_index_roundtrip_and_remove(tmp_path):
    x = unit(np.random.default_rng(2).normal(size=(50, 128)))
    index = vindex.build_index("flat", x, np.arange(50))
    assert vindex.remove(index, np.array([3, 4])) == 2
    path = vindex.write_index(index, tmp_path / "i.faiss")
    back = vindex.read_index(path)
    assert back.ntotal == 48 and vindex.index_kind(back) == "flat"
    _, ids = vindex.search(back, x[3:4], 48)
    assert 3 not in ids[0] and 4 not in ids[0]
    assert vindex.index_kind(vindex.build_index("hnsw", x, np.arange(50))) == "hnsw"
    with pytest.raises(ConfigError):
        vindex.new_index("ivf", 128)


# ---------------------------------------------------------------------------------------- gallery
def test_space_is_idsim():
    embs, _ = fake_embeddings(3, 2)
    v = to_space(embs)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(v[0] @ v[3], float(idsim(embs[0], embs[3])), atol=1e-5)


@pytest.mark.parametrize("kind", vindex.INDEX_TYPES)
def test_search_ranks_people_and_persists(tmp_path, kind):
    embs, names = fake_embeddings(40, 3)
    g = Gallery.create(tmp_path / "g", kind)
    rep = g.add(entries(embs, names))
    assert len(rep.added) == 120 and len(g) == 120
    probes = embs[::3] + np.random.default_rng(3).normal(scale=0.01, size=(40, 128)).astype(np.float32)
    res = g.search(probes, top_k=5, threshold=None)
    assert all(len(r) == 5 for r in res)
    assert [r[0].name for r in res] == sorted(set(names))  # top-1 is the right person every time
    for r in res:
        assert len({c.name for c in r}) == 5  # candidates are distinct people ...
        assert [c.rank for c in r] == [1, 2, 3, 4, 5]
        assert all(a.similarity >= b.similarity for a, b in zip(r, r[1:]))  # ... best first
    # a person's similarity is their best photo's IDSim
    c = res[0][0]
    best = max(float(idsim(probes[0], embs[i])) for i, n in enumerate(names) if n == c.name)
    assert c.similarity == pytest.approx(best, abs=1e-4)
    g.close()
    with Gallery.open(tmp_path / "g", readonly=True) as again:  # persisted: same answers after reopening
        assert again.index_type == kind
        assert [r[0].name for r in again.search(probes, top_k=1, threshold=None)] == sorted(set(names))


def test_exclude_and_threshold(tmp_path):
    embs, names = fake_embeddings(5, 2)
    g = Gallery.create(tmp_path / "g")
    ids = g.add(entries(embs, names)).added
    r = g.search(embs[:1], top_k=2, threshold=0.99)[0]
    assert r[0].photo_id == ids[0] and r[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert r[0].likely_same is True and r[1].likely_same is False
    # the query's own photo excluded: the person is still found through their other photo
    r = g.search(embs[:1], top_k=2, exclude={ids[0]}, threshold=None)[0]
    assert r[0].name == names[0] and r[0].photo_id == ids[1] and r[0].likely_same is None
    # both photos of the person excluded: someone else comes first
    r = g.search(embs[:1], top_k=2, exclude={ids[0], ids[1]})[0]
    assert r[0].name != names[0]
    cal = load_threshold()
    assert cal is not None and -1 < cal["threshold"] < 1
    r = g.search(embs[:1], top_k=5)[0]  # default: the shipped calibration
    assert all(c.likely_same == (c.similarity >= cal["threshold"]) for c in r)
    assert g.search(embs[:1], top_k=50, threshold=None)[0][-1].rank == 5  # never more people than exist


def test_incremental_add_and_remove(tmp_path):
    embs, names = fake_embeddings(6, 2)
    g = Gallery.create(tmp_path / "g")
    first = entries(embs[:8], names[:8])
    assert len(g.add(first).added) == 8
    rep = g.add(entries(embs, names))  # the first 8 again plus 4 new ones
    assert len(rep.added) == 4 and rep.already == 8 and len(g) == 12
    assert g.known(names[0], first[0].sha256) == "indexed"
    g.add([], skipped=[("person_009", "f" * 64, "/x/noface.jpg", "no face found")])
    assert g.known("person_009", "f" * 64) == "skipped"
    assert g.info()["skipped_files"] == 1
    assert g.remove(name=names[0]) == 2
    assert names[0] not in {n for n, _ in g.persons()} and len(g) == 10
    assert all(c.name != names[0] for c in g.search(embs[:1], top_k=5, threshold=None)[0])
    assert g.remove(sha256=first[2].sha256) == 1 and len(g) == 9
    with pytest.raises(InputError):
        g.remove(name="nobody")
    with pytest.raises(InputError):
        g.remove()


def test_hnsw_remove_rebuilds(tmp_path):
    embs, names = fake_embeddings(4, 3)
    g = Gallery.create(tmp_path / "g", "hnsw")
    g.add(entries(embs, names))
    assert g.remove(name=names[0]) == 3
    assert all(c.name != names[0] for c in g.search(embs[:1], top_k=3, threshold=None)[0])
    g.rebuild_index("flat")
    assert Gallery.open(tmp_path / "g").index_type == "flat"


def test_index_rebuilt_after_crash(tmp_path):
    """The database is the truth: a missing or stale index file is rebuilt on open."""
    embs, names = fake_embeddings(5, 2)
    g = Gallery.create(tmp_path / "g")
    g.add(entries(embs, names))
    g.close()
    (tmp_path / "g" / INDEX_NAME).unlink()
    g = Gallery.open(tmp_path / "g")
    assert g.search(embs[:1], top_k=1, threshold=None)[0][0].name == names[0]
    # a crash between the database commit and the index write leaves generations apart
    from dfrec.gallery import store

    old = vindex.read_index(tmp_path / "g" / INDEX_NAME)
    g.add(entries(embs[:1] + 0.01, ["late_person"], tag="late"))
    vindex.write_index(old, tmp_path / "g" / INDEX_NAME)  # the index of before the add
    with g._con:
        store.set_meta(g._con, index_generation=0)
    g.close()
    g = Gallery.open(tmp_path / "g")
    assert "late_person" in {n for n, _ in g.persons()}
    assert len(g) == 11 and g._index.ntotal == 11


def test_reader_sees_writer_changes(tmp_path):
    embs, names = fake_embeddings(3, 2)
    w = Gallery.create(tmp_path / "g")
    w.add(entries(embs[:2], names[:2]))
    r = Gallery.open(tmp_path / "g", readonly=True)
    assert len(r.search(embs[2:3], top_k=5, threshold=None)[0]) == 1
    w.add(entries(embs, names))
    assert r.refresh() is True
    assert len(r.search(embs[2:3], top_k=5, threshold=None)[0]) == 3
    assert r.refresh() is False


def test_open_errors(tmp_path):
    with pytest.raises(InputError, match="not a dfrec gallery"):
        Gallery.open(tmp_path / "none")
    Gallery.create(tmp_path / "g").close()
    with pytest.raises(ConfigError, match="exists"):
        Gallery.create(tmp_path / "g")
    with pytest.raises(ConfigError, match="index type"):
        Gallery.create(tmp_path / "h", "ivf")


# ---------------------------------------------------------------------------------------- calibration
def test_threshold_meets_the_false_match_rate():
    rng = np.random.default_rng(4)
    imp = rng.normal(0, 0.17, size=100_000)
    for fmr in (1e-2, 1e-3, 1e-4):
        t = threshold_at(imp, fmr)
        assert (imp >= t).mean() <= fmr
        assert (imp >= np.nextafter(t, -np.inf) - 1e-3).mean() > fmr * 0.5  # not needlessly high


def test_calibrate_on_clusters():
    embs, names = fake_embeddings(30, 4, spread=0.4)
    cal = calibrate(to_space(embs), names, fmr=1e-2)
    assert cal["genuine_pairs"] == 30 * 6 and cal["impostor_pairs"] == 120 * 119 // 2 - 180
    assert cal["fmr_measured"] <= 1e-2 and cal["genuine_mean"] > cal["impostor_mean"]
    assert 0 <= cal["tmr"] <= 1 and cal["table"][0]["fmr"] == 1e-2
