"""The process environment as DataGems reads it: `.env` under os.environ, `$VAR` references expanded.

The seed expands `$VAR` and `${VAR}` recursively in every value (and in defaults such as
`$R1EN_HOST_IP`), with `$$` for a literal dollar and an error on a reference cycle; we keep that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from datagems_core.errors import ConfigError

_REFERENCE = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def read_environment(env_file: str | Path | None = ".env") -> dict[str, str]:
    """Merge the `.env` file (if any) under the real environment; the real environment wins."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def expand(value: str, env: Mapping[str, str], _seen: tuple[str, ...] = ()) -> str:
    """Expand `$VAR`/`${VAR}` references in `value` recursively; `$$` is a literal `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        name = match.group(2) or match.group(3)
        if name in _seen:
            chain = " -> ".join((*_seen, name))
            raise ConfigError(f"environment variable reference cycle: {chain}")
        return expand(env.get(name, ""), env, (*_seen, name))

    return _REFERENCE.sub(replace, value)


def expand_all(env: Mapping[str, str]) -> dict[str, str]:
    """Expand every value of `env` against `env` itself; empty values count as unset."""
    expanded = {}
    for name, raw in env.items():
        value = expand(raw, env, (name,)) if "$" in raw else raw
        if value.strip() != "":
            expanded[name] = value
    return expanded
