"""The ports `datagems up` listens on: checked free before starting, reached on this machine."""

from __future__ import annotations

import socket

from datagems_core.errors import ConfigError


def check_port_free(host: str, port: int, setting: str) -> None:
    """ConfigError naming `setting` when `host:port` is taken (DataGems already running?)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"{host}:{port} is not available ({exc.strerror}): is DataGems already "
                f"running? Stop it or choose another port with {setting}"
            ) from None


def connect_host(host: str) -> str:
    """Where to reach a server listening on `host` (a wildcard address means this machine)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
