"""The training EMA (dfrec.train.ema.EMA): torch's averages, torch's layout, no host-to-device copies."""
from __future__ import annotations

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils._python_dispatch import TorchDispatchMode

from dfrec.train.config import config_from_dict
from dfrec.train.ema import EMA
from dfrec.train.setup import build_ema
from helpers import tiny_config


def _net() -> torch.nn.Module:
    """Float weights, BatchNorm running statistics (float buffers) and its int64 counter."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(2, 2))


def _train_a_little(net: torch.nn.Module) -> None:
    """Moves the weights and the BatchNorm statistics as a training step would."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    net.train()
    net[1](torch.randn(2, 4, 5, 5))  # running mean/var and num_batches_tracked move


def test_the_average_is_torchs_ema():
    """Parameters and float buffers follow torch's AveragedModel with get_ema_multi_avg_fn."""
    net = _net()
    ours, torchs = EMA(net, 0.9), AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    for _ in range(4):
        _train_a_little(net)
        ours.update_parameters(net)
        torchs.update_parameters(net)
    assert int(ours.n_averaged) == int(torchs.n_averaged) == 4
    a, b = ours.state_dict(), torchs.state_dict()
    assert a.keys() == b.keys()
    for k, v in a.items():
        if v.is_floating_point():
            torch.testing.assert_close(v, b[k], rtol=1e-6, atol=1e-7, msg=k)
    # the average lags the weights: not a copy of them
    assert not torch.allclose(ours.module[0].weight, net[0].weight)
    # an integer buffer follows the model (torch's blend truncates it to a number the model never had)
    assert int(ours.module[1].num_batches_tracked) == int(net[1].num_batches_tracked) == 4


def test_checkpoints_load_either_way():
    """Same state dict as torch's AveragedModel: EMA weights saved before this class resume into it."""
    net = _net()
    old = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    _train_a_little(net)
    old.update_parameters(net)
    new = EMA(_net(), 0.9)
    new.load_state_dict(old.state_dict())
    assert int(new.n_averaged) == 1 and new.n_averaged.device.type == "cpu"
    torch.testing.assert_close(new.module[0].weight, old.module[0].weight)
    AveragedModel(_net()).load_state_dict(new.state_dict())


class _Crossings(TorchDispatchMode):
    """Records ops that mix host tensors with tensors elsewhere (a blocking copy to a GPU syncs it)."""

    def __init__(self):
        super().__init__()
        self.crossings: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        devices = {t.device.type for t in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        out = func(*args, **kwargs)
        outs = {t.device.type for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)}
        if len(devices | outs) > 1:
            self.crossings.append(str(func))
        return out


def test_an_update_sends_nothing_from_the_host_to_the_device(fixture_cache, tmp_path):
    """With the weights on a device (meta stands in for a GPU) an update reads only its host
    counter and copies nothing across, so a training step does not wait for the GPU. torch's
    AveragedModel copies the counter over once per dtype group: the check sees that."""
    data = tiny_config(fixture_cache, tmp_path, steps=1, dataset="faces", ema={"enabled": True, "decay": 0.9})
    net = _net().to("meta")
    ema = build_ema(config_from_dict(data), net)
    assert isinstance(ema, EMA)
    for _ in range(3):
        with _Crossings() as mode:
            ema.update_parameters(net)
        assert mode.crossings == []
    assert ema.n_averaged.device.type == "cpu" and int(ema.n_averaged) == 3

    torchs = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    torchs.update_parameters(net)
    with _Crossings() as mode:
        torchs.update_parameters(net)
    assert mode.crossings  # the check would catch torch's behaviour coming back


def test_bad_decay_is_refused():
    with pytest.raises(ValueError, match="decay"):
        EMA(_net(), 1.0)
