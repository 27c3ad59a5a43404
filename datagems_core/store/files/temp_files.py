"""Temporary files to be renamed into place, made with the user's usual file mode.

`tempfile.mkstemp` makes files 0600 whatever the umask, so an export renamed into place would be
readable by its owner only, unlike every other file the user makes. Here the file is created with
0666 and the kernel takes the umask off (0644 under the usual umask 022).

    fd, tmp = create_temp_file(out.parent, prefix=f".{out.name}.", suffix=".part")
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_ATTEMPTS = 100


def create_temp_file(directory: Path, *, prefix: str, suffix: str = "") -> tuple[int, Path]:
    """Create a new, empty file in `directory` and return its open descriptor and its path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        path = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {directory} after {_ATTEMPTS} tries")
