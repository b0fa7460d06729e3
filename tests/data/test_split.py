"""The LFW identity split stored in the repository."""

from __future__ import annotations

from collections import Counter

import pytest

from dfrec.data.datasets.lfw import SPLITS, lfw_people, load_split, make_identity_split, split_identities
from dfrec.errors import ConfigError


def test_split_is_disjoint_by_identity():
    s = load_split()
    sets = {k: set(v) for k, v in s.items()}
    assert all(len(sets[k]) == len(s[k]) for k in SPLITS)  # no duplicates
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    n = sum(len(v) for v in sets.values())
    assert n == 5749
    assert 0.78 < len(sets["train"]) / n < 0.82 and 0.08 < len(sets["test"]) / n < 0.12


def test_split_matches_lfw_and_its_recipe(lfw_dir):
    counts = lfw_people(lfw_dir)
    s = load_split()
    assert set().union(*map(set, s.values())) == set(counts)
    again = make_identity_split(counts, (0.8, 0.1, 0.1), seed=0)
    assert {k: sorted(again[k]) for k in SPLITS} == {k: sorted(s[k]) for k in SPLITS}
    for k in SPLITS:  # every split has people with several photos
        assert sum(counts[n] >= 2 for n in s[k]) > 100
        assert sum(counts[n] >= 10 for n in s[k]) >= 10


def test_split_selection_and_errors():
    assert split_identities("train,val") == split_identities(["train", "val"])
    assert split_identities("train") | split_identities("val") == split_identities("train,val")
    with pytest.raises(ConfigError):
        split_identities("holdout")
    with pytest.raises(ConfigError):
        make_identity_split({"a": 1}, (0.5, 0.5, 0.5))


def test_stratified_split_is_seeded():
    counts = {f"p{i}": 1 + (i % 12) for i in range(400)}
    a, b, c = make_identity_split(counts, seed=1), make_identity_split(counts, seed=1), make_identity_split(counts, seed=2)
    assert a["train"] == b["train"] and a["train"] != c["train"]
    per = Counter(counts[n] >= 10 for n in a["test"])
    assert per[True] > 0
