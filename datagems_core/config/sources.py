"""Where settings come from: `.env` under os.environ with `$VAR` expanded, and our names checked.

An unknown name under our prefixes is a typo and stops start-up with the closest known name.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from datagems_core.config.environment import expand_all, read_environment
from datagems_core.errors import ConfigError


def env_names(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class ExpandedEnvironment(PydanticBaseSettingsSource):
    """`.env` plus os.environ with `$VAR` references expanded; empty values count as unset."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: str | Path | None) -> None:
        super().__init__(settings_cls)
        self.env = expand_all(read_environment(env_file))

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        del field  # __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        known = _alias_names(self.settings_cls)
        unknown = sorted(n for n in self.env if n.startswith(_OWN_PREFIXES) and n not in known)
        if unknown:
            raise ConfigError(_unknown_setting(unknown[0], known))
        return {name: value for name, value in self.env.items() if name in known}


# Every name under these prefixes is ours, so one we do not know is a typo, not someone else's.
_OWN_PREFIXES = ("DATAGEMS_", "DATAGEN_")


def _unknown_setting(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
    hint = f"did you mean {close[0]}?" if close else "check the spelling"
    return f"unknown setting {name}: {hint} (the README lists every setting)"


def _alias_names(cls: type[BaseSettings]) -> set[str]:
    names: set[str] = set()
    for info in cls.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
    return names


def parse_peer_list(raw: str | list[str] | None) -> list[str]:
    """Peers as the seed reads them: a JSON array string or a comma-separated list."""
    if raw is None:
        return []
    if isinstance(raw, list):
        return [str(p).strip() for p in raw if str(p).strip()]
    text = raw.strip().strip("'").strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return [str(p).strip() for p in parsed if str(p).strip()]
    return [p.strip().strip('"') for p in text.strip("[]").split(",") if p.strip().strip('"')]
