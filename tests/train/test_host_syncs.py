"""Counting host syncs (dfrec.train.host_syncs): what the loop logs for one step of a GPU run."""
from __future__ import annotations

import warnings

import pytest
import torch

from dfrec.train.host_syncs import counting_host_syncs, describe

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CUDA's sync debug mode)")


def test_off_the_gpu_it_counts_nothing_and_lets_warnings_through():
    with pytest.warns(UserWarning, match="still seen"):
        with counting_host_syncs(torch.device("cpu")) as found:
            float(torch.ones(3).sum())  # a read, but on the host there is nothing to wait for
            warnings.warn("still seen", UserWarning)
    assert found == []


def test_describe_gives_the_count_and_where():
    assert describe([]) == "0"
    assert describe(["loop.py:402", "swa_utils.py:287", "swa_utils.py:287"]) == \
        "3 (loop.py:402 ×1; swa_utils.py:287 ×2)"
    assert describe([f"f.py:{i}" for i in range(5)], limit=2) == "5 (f.py:0 ×1; f.py:1 ×1; 3 more kinds)"


@cuda
def test_a_read_back_is_counted_at_its_line_and_device_work_is_not():
    x = torch.ones(1024, device="cuda")
    before = torch.cuda.get_sync_debug_mode()
    with counting_host_syncs(x.device) as found:
        y = (x * 2).sum()  # queued only
        torch.isfinite(y)
    assert found == []
    with counting_host_syncs(x.device) as found:
        bool(torch.isfinite(y))  # the host waits for the GPU
    assert len(found) == 1 and found[0].startswith("test_host_syncs.py:")
    assert torch.cuda.get_sync_debug_mode() == before
