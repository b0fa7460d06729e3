"""Run by ``torchrun`` in the DDP test: train, then write this rank's parameters.

Usage: python -m torch.distributed.run --nproc_per_node=2 tests/train/ddp_worker.py CONFIG.yaml OUT {real|plain}

``plain``: the BatchNorm-free stand-in of standins.py (to compare with a single process exactly).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    cfg_path, out, kind = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    from dfrec.train.config import load_config
    from dfrec.train.loop import Trainer

    cfg = load_config(cfg_path, [f"output.dir={out}"])
    components = None
    if kind == "plain":
        from standins import plain_components

        components = plain_components()
    trainer = Trainer(cfg, device="cpu", components=components, progress=False)
    summary = trainer.fit()
    rank = int(os.environ["RANK"])
    sd = {k: v.detach().contiguous().clone() for k, v in trainer.model.state_dict().items()}
    save_file(sd, str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.step").write_text(str(summary["step"]))


if __name__ == "__main__":
    main()
