"""Checkpoints: round trips (single file, shards, fp16), metadata, and clear errors for broken folders."""

from __future__ import annotations

import json

import pytest
import torch

from dfrec.errors import CheckpointError
from dfrec.models import DFREC, create_model


@pytest.fixture(scope="module")
def tiny() -> DFREC:
    torch.manual_seed(0)
    return create_model("tiny").eval()


def _out(model: DFREC, seed: int = 0) -> dict[str, torch.Tensor]:
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return model(x, generator=torch.Generator().manual_seed(seed))


def _same_state(a: DFREC, b: DFREC) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_single_file_roundtrip_with_metadata(tiny, tmp_path):
    meta = {"training_data": "LFW synthetic swaps", "metrics": {"idsim": 0.5}}
    tiny.save_pretrained(tmp_path / "ck", metadata=meta)
    files = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert files == ["config.json", "model.safetensors"]
    doc = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert doc["preset"] == "tiny" and doc["metadata"] == meta and doc["dfrec_version"] and doc["created"]
    loaded = DFREC.from_pretrained(tmp_path / "ck")
    assert _same_state(tiny, loaded) and not loaded.training
    assert loaded.config == tiny.config
    assert torch.equal(_out(tiny)["target"], _out(loaded)["target"])


def test_overrides_change_settings_not_weights(tiny, tmp_path):
    from dfrec.errors import ConfigError

    tiny.save_pretrained(tmp_path / "ck", metadata={"run": "x"})
    loaded = DFREC.from_pretrained(tmp_path / "ck", overrides={"compose_dilate": tiny.config.compose_dilate + 2})
    assert loaded.config.compose_dilate == tiny.config.compose_dilate + 2
    assert loaded.config.to_dict() == {**tiny.config.to_dict(), "compose_dilate": tiny.config.compose_dilate + 2}
    assert _same_state(tiny, loaded) and loaded.checkpoint_metadata == {"run": "x"} and not loaded.training
    with pytest.raises(CheckpointError, match="refine"):  # a setting that adds tensors: the strict load says which
        DFREC.from_pretrained(tmp_path / "ck", overrides={"refine_depth": 2})
    with pytest.raises(ConfigError):
        DFREC.from_pretrained(tmp_path / "ck", overrides={"compose_dilate": -1})


def test_sharded_roundtrip_and_stale_files_removed(tiny, tmp_path):
    ck = tmp_path / "ck"
    tiny.save_pretrained(ck, shard_size_mb=2)
    shards = sorted(p.name for p in ck.glob("model-*.safetensors"))
    assert len(shards) >= 3 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert all(p.stat().st_size <= 2 * 1024 * 1024 + 100_000 for p in ck.glob("model-*.safetensors"))
    index = json.loads((ck / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    assert _same_state(tiny, DFREC.from_pretrained(ck))
    # saving again as one file removes the old shards and index
    tiny.save_pretrained(ck)
    assert sorted(p.name for p in ck.iterdir()) == ["config.json", "model.safetensors"]
    assert _same_state(tiny, DFREC.from_pretrained(ck))


def test_fp16_storage_halves_the_size_and_loads_as_float32(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "a")
    tiny.save_pretrained(tmp_path / "b", dtype="float16")
    size = lambda d: (d / "model.safetensors").stat().st_size  # noqa: E731
    assert size(tmp_path / "b") < 0.55 * size(tmp_path / "a")
    loaded = DFREC.from_pretrained(tmp_path / "b")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    w, w16 = tiny.state_dict(), loaded.state_dict()
    for k in w:
        if w[k].is_floating_point():
            assert torch.allclose(w[k], w16[k], rtol=1e-3, atol=1e-4), k
    assert (_out(tiny)["target"] - _out(loaded)["target"]).abs().max() < 0.05


def test_truncated_weights_raise_checkpoint_error(tiny, tmp_path):
    ck = tmp_path / "ck"
    tiny.save_pretrained(ck)
    f = ck / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        DFREC.from_pretrained(ck)
    f.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        DFREC.from_pretrained(ck)


def test_missing_and_corrupt_files_raise_checkpoint_error(tiny, tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        DFREC.from_pretrained(tmp_path / "absent")
    ck = tmp_path / "ck"
    tiny.save_pretrained(ck, shard_size_mb=2)
    (ck / "model-00002-of-{:05d}.safetensors".format(len(list(ck.glob("model-*"))))).unlink()
    with pytest.raises(CheckpointError, match="missing weights file"):
        DFREC.from_pretrained(ck)
    (ck / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt JSON"):
        DFREC.from_pretrained(ck)
    (ck / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a dfrec checkpoint"):
        DFREC.from_pretrained(ck)
    (ck / "config.json").unlink()
    with pytest.raises(CheckpointError, match="missing config.json"):
        DFREC.from_pretrained(ck)


def test_mismatched_config_and_weights_raise_checkpoint_error(tiny, tmp_path):
    ck = tmp_path / "ck"
    tiny.save_pretrained(ck)
    doc = json.loads((ck / "config.json").read_text())
    doc["config"]["enc_dim"] = 64  # weights were saved for 32
    doc["config"]["enc_heads"] = 2
    (ck / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        DFREC.from_pretrained(ck)
    doc["config"]["enc_dim"] = 32
    doc["config"]["enc_depth"] = 2  # one block more than the weights have
    (ck / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="missing tensor"):
        DFREC.from_pretrained(ck)
    doc["config"]["enc_depth"] = 1
    doc["config"]["bogus"] = 1
    (ck / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="unknown key"):
        DFREC.from_pretrained(ck)


def test_no_pickle_in_the_checkpoint(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "ck")
    data = (tmp_path / "ck" / "model.safetensors").read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    assert header["__metadata__"]["format"] == "pt"
    assert b"\x80\x04" not in data[: 8 + header_len]  # safetensors header is JSON, not a pickle


def test_newer_format_version_is_refused(tiny, tmp_path):
    from dfrec.models.checkpoint import FORMAT_VERSION

    ck = tmp_path / "ck"
    tiny.save_pretrained(ck)
    doc = json.loads((ck / "config.json").read_text())
    assert doc["format_version"] == FORMAT_VERSION
    doc["format_version"] = FORMAT_VERSION + 1  # written by a later dfrec
    (ck / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=f"format {FORMAT_VERSION + 1} is newer than this dfrec supports"):
        DFREC.from_pretrained(ck)
    doc["format_version"] = FORMAT_VERSION  # the same version still loads
    (ck / "config.json").write_text(json.dumps(doc))
    assert _same_state(tiny, DFREC.from_pretrained(ck))


@pytest.mark.parametrize("index", ["{not json", json.dumps({"metadata": {}}), json.dumps({"weight_map": 3}), "not-utf8"],
                         ids=["bad-json", "no-weight-map", "weight-map-not-a-dict", "not-utf8"])
def test_corrupt_shard_index_is_a_checkpoint_error(tiny, tmp_path, index):
    ck = tmp_path / "ck"
    tiny.save_pretrained(ck, shard_size_mb=2)
    path = ck / "model.safetensors.index.json"
    if index == "not-utf8":
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(index)
    with pytest.raises(CheckpointError, match="corrupt shard index"):
        DFREC.from_pretrained(ck)


def test_bfloat16_storage_loads_as_float32(tiny, tmp_path):
    from safetensors import safe_open

    tiny.save_pretrained(tmp_path / "a")
    tiny.save_pretrained(tmp_path / "bf", dtype="bfloat16")
    doc = json.loads((tmp_path / "bf" / "config.json").read_text())
    assert doc["storage_dtype"] == "bfloat16"
    with safe_open(str(tmp_path / "bf" / "model.safetensors"), framework="pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    assert {t.dtype for t in stored.values() if t.is_floating_point()} == {torch.bfloat16}
    assert all(not t.is_floating_point() for t in stored.values() if t.dtype != torch.bfloat16)  # counters keep their type
    size = lambda d: (d / "model.safetensors").stat().st_size  # noqa: E731
    assert size(tmp_path / "bf") < 0.55 * size(tmp_path / "a")
    loaded = DFREC.from_pretrained(tmp_path / "bf")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    w, wb = tiny.state_dict(), loaded.state_dict()
    for k in w:
        if w[k].is_floating_point():
            # exactly the bf16 rounding of the original (round to nearest even), cast back to float32
            assert torch.equal(wb[k], w[k].to(torch.bfloat16).float()), k
        else:
            assert torch.equal(wb[k], w[k]), k
    with pytest.raises(Exception, match="dtype"):
        tiny.save_pretrained(tmp_path / "bad", dtype="int8")


def test_average_states_is_the_weighted_mean_of_what_it_averages(tiny):
    from dfrec.errors import ConfigError
    from dfrec.models.checkpoint import average_states

    a = {"w": torch.tensor([0.0, 4.0]), "h": torch.tensor([1.0], dtype=torch.float16), "n": torch.tensor(3)}
    b = {"w": torch.tensor([2.0, 8.0]), "h": torch.tensor([3.0], dtype=torch.float16), "n": torch.tensor(7)}
    mean = average_states([a, b])
    assert torch.equal(mean["w"], torch.tensor([1.0, 6.0])) and mean["h"].dtype == torch.float16
    assert mean["h"].item() == 2.0 and mean["n"].item() == 3  # counters from the first state
    quarter = average_states([a, b], [0.75, 0.25], only={"w"})
    assert torch.equal(quarter["w"], torch.tensor([0.5, 5.0])) and quarter["h"].item() == 1.0  # "h" not averaged
    with pytest.raises(ConfigError, match="w"):
        average_states([a, {**b, "w": torch.zeros(3)}])
    with pytest.raises(ConfigError, match="summing to 1"):
        average_states([a, b], [0.5, 0.6])
    # a real model: the mean of a state with itself is the state
    st = tiny.state_dict()
    same = average_states([st, st])
    assert all(torch.equal(same[k], v) for k, v in st.items())
