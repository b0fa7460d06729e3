"""Configs for the training tests: the real tiny model, real losses, real synthesised data."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

#: cheapest real loss: TIRM patch recovery + ISM classification (the networks-free terms)
CHEAP_LOSS = {"lambda_id": 0.0, "lambda_perc": 0.0, "lambda_attr": 0.0, "lambda_patch": 2.0, "lambda_cls": 0.5}


def tiny_config(cache: Path, out: Path, steps: int = 6, dataset: str = "lfw", loss: dict | None = None, **train) -> dict:
    """A nested config dict for the tiny preset on a small face cache (CPU, batch 2)."""
    splits = {"train_split": "train", "val_split": "val"} if dataset == "lfw" else {"train_split": "all", "val_split": "all"}
    return {
        "model": {"preset": "tiny"},
        "data": {
            "dataset": dataset,
            "cache": str(cache),
            **splits,
            "batch_size": 2,
            "workers": 0,
            "samples_per_epoch": 8,  # 4 batches per epoch: runs cross epoch boundaries
            "val_samples": 2,
            "val_batch_size": 2,
        },
        "loss": dict(CHEAP_LOSS if loss is None else loss),
        "optim": {"lr": 1e-3, "warmup_steps": 2, "schedule": "cosine"},
        "train": {
            "steps": steps,
            "seed": 3,
            "checkpoint_every": 2,
            "keep_last": 2,
            "val_every": 100,
            "log_every": 1,
            "val_images": 2,
            **train,
        },
        "output": {"dir": str(out)},
    }


def write_config(data: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def model_state(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("model-*-of-*.safetensors")) or [folder / "model.safetensors"]
    out: dict[str, torch.Tensor] = {}
    for f in files:
        out.update(load_file(str(f)))
    return out


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs (max |diff| {(a[k].float() - b[k].float()).abs().max()})"
