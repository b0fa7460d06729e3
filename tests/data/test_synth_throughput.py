"""benchmarks/synth_throughput.py: the synthesiser it measures (a recipe's, with --config) and its table."""

from __future__ import annotations

import json

import pytest
import yaml

from dfrec.data.synth import SynthConfig
from repo_scripts import ROOT, load_script


def test_config_of_a_recipe_a_synth_yaml_or_the_default(tmp_path):
    bench = load_script("benchmarks/synth_throughput.py")
    gpu = bench._synth_config(str(ROOT / "configs" / "small_lfw_gpu.yaml"), 112)
    recipe = yaml.safe_load((ROOT / "configs" / "small_lfw_gpu.yaml").read_text())["data"]["synth"]
    assert gpu.size == 112 and gpu.kinds == recipe["kinds"]
    assert gpu.augment.rescale_prob == recipe["augment"]["rescale_prob"] > 0
    assert gpu.swap.appearance.target_lowfreq_prob == recipe["swap"]["appearance"]["target_lowfreq_prob"]
    p = tmp_path / "synth.yaml"
    p.write_text(yaml.safe_dump({"synth": {"kinds": {"swap": 1.0}, "augment": {"sharpen_prob": 0.5}}}))
    own = bench._synth_config(str(p), 96)
    assert own.kinds == {"swap": 1.0} and own.augment.sharpen_prob == 0.5 and own.size == 96
    assert bench._synth_config(None, 96).to_dict() == SynthConfig(size=96).to_dict()


@pytest.fixture
def keep_threads():
    """The benchmark runs torch and OpenCV on one thread, as a script should; tests after this one
    must not inherit that (other thread counts change float sums, and assets are compared to 1e-5)."""
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(before[0])
    cv2.setNumThreads(before[1])


def test_table_of_a_recipe(lfw_pairs_cache, capsys, keep_threads):
    cache, _ = lfw_pairs_cache
    bench = load_script("benchmarks/synth_throughput.py")
    cfg = str(ROOT / "configs" / "small_lfw_gpu.yaml")
    assert bench.main(["--faces", str(cache), "--pool", "12", "-n", "3", "--size", "96", "--config", cfg, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == cfg and out["size"] == 96 and out["samples_per_kind"] == 3
    assert [r["kind"] for r in out["rows"]] == ["swap", "blend", "self", "real"]
    assert all(r["synth_per_s"] > 0 and r["item_per_s"] > 0 for r in out["rows"]) and out["default_mix_item_per_s"] > 0
