"""Running ``dfrec serve``: bind the socket, say where the server is, run uvicorn."""

from __future__ import annotations

import socket
import sys

from dfrec.serve.config import ServeConfig


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        from dfrec.errors import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(cfg: ServeConfig, port: int) -> str:
    host = cfg.host if ":" not in cfg.host or cfg.host.startswith("[") else f"[{cfg.host}]"
    shown = "127.0.0.1" if cfg.host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    return url + (f"?token={cfg.token}" if cfg.token else "")


def run(cfg: ServeConfig, log_level: str = "warning") -> int:
    """Serve until interrupted (Ctrl-C / SIGTERM); returns the exit status."""
    import uvicorn

    from dfrec.serve.app import create_app

    cfg.validate()
    if not cfg.loopback:
        print(f"dfrec serve: WARNING: listening on {cfg.host}, reachable from other machines. Every request needs "
              "the token; traffic is plain HTTP (use a TLS proxy or an SSH tunnel on untrusted networks).",
              file=sys.stderr)
    app = create_app(cfg)  # locks the data folder first: a second server stops here, whatever its port
    sock = bind(cfg.host, cfg.port)
    port = sock.getsockname()[1]
    print(f"dfrec serve: open {url_of(cfg, port)} in a browser (data in {cfg.data_dir.resolve()}; Ctrl-C stops)",
          flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=20,
                                           limit_concurrency=200, timeout_keep_alive=5))
    server.run(sockets=[sock])
    return 0
