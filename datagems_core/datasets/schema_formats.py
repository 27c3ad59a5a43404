"""Format checks for record values, shared by both validators so they agree.

python-jsonschema's checkers, with `uri`, `url`, `uri-reference`, `hostname` and `email` made
stricter or linear-time here; jsonschema-rs calls the same functions (`COMPILED_FORMATS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _is_uri(value: object) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return not isinstance(value, str)
    parts = urlsplit(value)
    return bool(parts.scheme and _SCHEME.match(parts.scheme) and (parts.netloc or parts.path))


def _is_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or not any(c.isspace() for c in value)


def _is_hostname(value: object) -> bool:
    return not isinstance(value, str) or bool(_HOSTNAME.match(value))


def _is_email(value: object) -> bool:
    # What `^[^@\s]+@[^@\s]+\.[^@\s]+$` says, in linear time: that regex backtracks
    # quadratically ("a@" and 8,000 dots took 1.2 s).
    if not isinstance(value, str):
        return True
    if value.count("@") != 1 or any(c.isspace() for c in value):
        return False
    local, domain = value.split("@")
    return bool(local) and "." in domain[1:-1]


def _build_format_checker() -> FormatChecker:
    checker = FormatChecker()
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("uri")(_is_uri)
    checker.checks("url")(_is_uri)
    checker.checks("uri-reference")(_is_uri_reference)
    checker.checks("hostname")(_is_hostname)
    checker.checks("email")(_is_email)
    return checker


FORMAT_CHECKER = _build_format_checker()
# Formats jsonschema-rs knows and jsonschema (as installed) does not check: accepted, as there.
_UNCHECKED_FORMATS = ("duration", "iri", "iri-reference", "uri-template")


def _compiled_format(name: str) -> Callable[[str], bool]:
    func, raises = FORMAT_CHECKER.checkers[name]

    def conforms(value: str) -> bool:
        try:
            return bool(func(value))
        except raises:
            return False

    return conforms


def _accept(value: str) -> bool:
    del value
    return True


COMPILED_FORMATS: dict[str, Callable[[str], bool]] = {
    **dict.fromkeys(_UNCHECKED_FORMATS, _accept),
    **{name: _compiled_format(name) for name in FORMAT_CHECKER.checkers},
}
