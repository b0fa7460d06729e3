"""Settings of ``dfrec serve`` (one dataclass, filled by the CLI; no argparse here)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dfrec.errors import ConfigError


@dataclass
class ServeConfig:
    """Everything the web process and its worker need.

    Limits: ``max_upload_bytes`` per request (all files of one upload together),
    ``max_files`` per upload, ``max_queue`` jobs waiting or running (more are refused with
    HTTP 503 and a message), ``max_pixels`` per image. Video: ``fps`` frames analysed per
    second of video, at most ``max_frames``. ``token``: when set, every request must carry
    it (required when ``host`` is not a loopback address).
    """

    data_dir: Path = field(default_factory=lambda: Path("dfrec_serve"))
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    checkpoint: str | None = None
    device: str = "auto"
    gallery: str | None = None
    top_k: int = 5
    max_upload_bytes: int = 512 * 1024 * 1024
    max_files: int = 20
    max_queue: int = 32
    max_pixels: int = 50_000_000
    fps: float = 1.0
    max_frames: int = 300
    max_faces: int | None = 10
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    def validate(self) -> "ServeConfig":
        """Check ranges and the loopback/token rule; returns self."""
        if not 0 <= int(self.port) <= 65535:
            raise ConfigError(f"--port must be 0-65535, got {self.port}")
        for name in ("max_upload_bytes", "max_files", "max_queue", "max_pixels", "max_frames", "top_k"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.fps < 0:
            raise ConfigError(f"--fps must be >= 0, got {self.fps}")
        if self.max_faces is not None and self.max_faces < 1:
            raise ConfigError(f"--max-faces must be >= 1, got {self.max_faces}")
        if self.token is not None and len(self.token) < 16:
            raise ConfigError("--token must be at least 16 characters (e.g. python -c 'import secrets; "
                              "print(secrets.token_urlsafe())')")
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(f"--host {self.host} makes the server reachable from other machines: give an access "
                              "token with --token (or bind to 127.0.0.1)")
        return self

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the token is never included)."""
        d = asdict(self)
        d["data_dir"] = str(self.data_dir)
        d.pop("token")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], token: str | None = None) -> "ServeConfig":
        return cls(**{**d, "token": token})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) only accepts connections from this machine."""
    h = host.strip("[]")
    if h in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(h, None))
        except (OSError, ValueError):
            return False
