"""Choosing a torch device from a user string (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``)."""

from __future__ import annotations

import torch

from dfrec.errors import ConfigError


def select_device(name: str | torch.device | None = "auto") -> torch.device:
    """Return the torch device for ``name``; ``auto``/``None`` picks CUDA when present, else CPU.

    Raises :class:`ConfigError` when the named device does not exist on this machine.
    """
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N (N = GPU number) or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' asked for, but MPS is not available here")
    return dev
