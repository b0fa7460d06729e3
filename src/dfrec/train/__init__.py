"""dfrec.train: the training loop, its config, checkpoints/resume and multi-process (DDP) support.

- :mod:`dfrec.train.config` — YAML → validated nested dataclasses (``load_config``).
- :mod:`dfrec.train.loop` — :class:`Trainer` (AdamW, bf16 autocast, EMA, checkpoints, resume).
- :mod:`dfrec.train.checkpointing` — atomic step checkpoints, weights-only trainer state.
- :mod:`dfrec.train.distributed` — torchrun/DDP setup, resumable sampler, seeded samples.
- :mod:`dfrec.train.validation` — PSNR/SSIM/IDSim/accuracy on held-out identities.
- :mod:`dfrec.train.components` — wiring of the real model, loss and data.

Entry points: ``dfrec train --config configs/small_lfw.yaml`` and
``torchrun --nproc_per_node=K -m dfrec train --config ...``.
"""

from dfrec.train.config import Config, load_config

__all__ = ["Config", "load_config"]
