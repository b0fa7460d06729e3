"""The GPU recipe under ``torch.compile`` (configs/small_lfw_gpu.yaml: ``compile`` and
``compile_loss``): dynamo traces the model's training forward and the whole objective each as one
graph, with no graph break (a break splits what the compiler can fuse and, on a GPU, a host read
like ``float(tensor)`` also waits for the device at every step), the next batch of other people
reuses the graphs (a recompile costs tens of seconds on a GPU; after 8, dynamo gives up and runs
eager), and the traced model and loss give the eager results on real synthesised forgeries."""

from __future__ import annotations

import torch

from dfrec.train.components import build_datasets, build_loss, build_model
from dfrec.train.config import load_config
from dfrec.train.setup import collate, to_device
from repo_scripts import ROOT


def test_recipe_model_and_loss_trace_as_one_graph_each(lfw_cache):
    cfg = load_config(ROOT / "configs" / "small_lfw_gpu.yaml",
                      [f"data.cache={lfw_cache}", "model.preset=tiny", "model.init_from=null"])
    model, loss_fn = build_model(cfg).train(), build_loss(cfg).eval()
    train, _ = build_datasets(cfg)
    batches = [to_device(collate([train[i] for i in range(k, k + 4)]), torch.device("cpu")) for k in (0, 4)]
    assert batches[0]["source_id"] != batches[1]["source_id"]  # other people, as at every step
    traced_model = torch.compile(model, backend="eager", fullgraph=True)  # raises at a graph break
    traced_loss = torch.compile(loss_fn, backend="eager", fullgraph=True)
    for step, batch in enumerate(batches):
        with torch.no_grad(), torch._dynamo.config.patch(error_on_recompile=step > 0):
            outs = []
            for forward in (traced_model, model):  # traced first, as in training
                torch.manual_seed(step)  # the same masking noise
                outs.append(forward(batch["forgery"]))
            traced, eager = outs
            assert set(traced) == set(eager)
            for k, v in eager.items():
                torch.testing.assert_close(traced[k], v)
            traced_total, traced_parts = traced_loss(eager, batch)
            eager_total, eager_parts = loss_fn(eager, batch)
        torch.testing.assert_close(traced_total, eager_total)
        assert set(traced_parts) == set(eager_parts) >= {"id", "sep", "perc", "attr", "map", "pix", "border"}
