"""Strings that match a simple regular expression, for the mock gateway.

Covers literals, escapes (\\d \\w \\s and escaped punctuation), classes with ranges, `.`,
groups with alternation, anchors and the quantifiers ? * + {n} {n,} {n,m}. Anything else
(look-arounds, back-references, negated classes) raises `UnsupportedPattern`.
"""

from __future__ import annotations

import random
import re
import string

import jsonschema_rs

from datagems_core.datasets.linear_regex import MAX_PATTERN_REPEAT, search

_DIGITS = string.digits
_WORD = string.ascii_letters + string.digits + "_"
_SPACE = " "
_ANY = string.ascii_letters + string.digits
_ESCAPES = {"d": _DIGITS, "w": _WORD, "s": _SPACE}
_UNBOUNDED_EXTRA = 3  # how many repeats beyond the minimum `*`, `+` and `{n,}` may add


class UnsupportedPattern(ValueError):
    pass


def generate_matching(pattern: str, rng: random.Random, *, max_length: int = 65_536) -> str:
    """A string of at most `max_length` characters that `pattern` matches (checked in linear
    time, as records are); raises UnsupportedPattern."""
    parser = _Parser(pattern, rng, max_length)
    text = parser.alternation()
    if parser.pos != len(pattern):
        raise UnsupportedPattern(f"cannot generate text for pattern {pattern!r}")
    try:
        if not search(pattern, text):
            raise UnsupportedPattern(f"cannot generate text for pattern {pattern!r}")
    except jsonschema_rs.ValidationError:
        raise UnsupportedPattern(f"invalid pattern {pattern!r}") from None
    return text


class _Parser:
    """A recursive-descent reader that emits one random match while it parses."""

    def __init__(self, pattern: str, rng: random.Random, max_length: int) -> None:
        self.pattern = pattern
        self.pos = 0
        self.rng = rng
        self.max_length = max_length
        self.made = 0  # characters emitted, over every branch: bounds work and memory

    def _peek(self) -> str:
        return self.pattern[self.pos] if self.pos < len(self.pattern) else ""

    def _fail(self) -> UnsupportedPattern:
        return UnsupportedPattern(
            f"pattern {self.pattern!r} uses syntax the mock cannot generate (at {self.pos})"
        )

    def alternation(self) -> str:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._sequence())
        return self.rng.choice(branches)

    def _sequence(self) -> str:
        parts: list[str] = []
        while self._peek() not in ("", "|", ")"):
            start = self.pos
            atom = self._atom()
            low, high = self._quantifier()
            if (low, high) == (1, 1):
                parts.append(atom)
                continue
            count = self.rng.randint(low, high)
            end = self.pos
            repeats = [atom] if count else []
            for _ in range(count - 1):  # re-parse the atom so each repeat is drawn afresh
                self.pos = start
                repeats.append(self._atom())
                self.pos = end
            parts.extend(repeats)
        return "".join(parts)

    def _emit(self, text: str) -> str:
        self.made += len(text)
        if self.made > self.max_length:
            raise UnsupportedPattern(
                f"pattern {self.pattern!r} makes strings longer than {self.max_length} characters"
            )
        return text

    def _quantifier(self) -> tuple[int, int]:
        char = self._peek()
        if char == "?":
            low, high = 0, 1
            self.pos += 1
        elif char == "*":
            low, high = 0, _UNBOUNDED_EXTRA
            self.pos += 1
        elif char == "+":
            low, high = 1, 1 + _UNBOUNDED_EXTRA
            self.pos += 1
        elif char == "{":
            match = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.pattern, self.pos)
            if match is None:
                return 1, 1  # a literal brace
            low = int(match.group(1))
            if match.group(2) is None:
                high = low
            elif match.group(3):
                high = int(match.group(3))
            else:
                high = low + _UNBOUNDED_EXTRA
            self.pos = match.end()
            if high > MAX_PATTERN_REPEAT:
                raise UnsupportedPattern(
                    f"pattern {self.pattern!r} repeats more than {MAX_PATTERN_REPEAT} times"
                )
        else:
            return 1, 1
        if self._peek() in ("?", "+"):
            self.pos += 1  # lazy and possessive forms generate the same text
        return low, high

    def _atom(self) -> str:
        char = self._peek()
        self.pos += 1
        if char in ("^", "$"):
            return ""
        if char == ".":
            return self._emit(self.rng.choice(_ANY))
        if char == "(":
            if self.pattern.startswith("?:", self.pos):
                self.pos += 2
            elif self._peek() == "?":
                raise self._fail()
            text = self.alternation()
            if self._peek() != ")":
                raise self._fail()
            self.pos += 1
            return text
        if char == "[":
            return self._emit(self._class())
        if char == "\\":
            return self._emit(self.rng.choice(self._escape()))
        if char in ("*", "+", "?", ")"):
            raise self._fail()
        return self._emit(char)

    def _escape(self) -> str:
        char = self._peek()
        if not char:
            raise self._fail()
        self.pos += 1
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char.isalnum():
            raise self._fail()  # \b, \D, back-references and the like
        return char

    def _class(self) -> str:
        """One character drawn from a `[...]` class; ranges are drawn from, never spelled out
        (`[\u0000-\U0010ffff]` would be a million characters per repeat)."""
        if self._peek() == "^":
            raise self._fail()
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            char = self._peek()
            if not char:
                raise self._fail()
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            self.pos += 1
            if char == "\\":
                ranges.extend((ord(c), ord(c)) for c in self._escape())
                continue
            if self._peek() == "-" and self.pattern[self.pos + 1 : self.pos + 2] not in ("]", ""):
                end = self.pattern[self.pos + 1]
                self.pos += 2
                if ord(end) < ord(char):
                    raise self._fail()
                ranges.append((ord(char), ord(end)))
                continue
            ranges.append((ord(char), ord(char)))
        if not ranges:
            raise self._fail()
        return self._draw(ranges)

    def _draw(self, ranges: list[tuple[int, int]]) -> str:
        total = sum(high - low + 1 for low, high in ranges)
        for _ in range(8):  # a surrogate is not a character: draw again
            pick = self.rng.randrange(total)
            for low, high in ranges:
                if pick <= high - low:
                    code = low + pick
                    break
                pick -= high - low + 1
            if not 0xD800 <= code <= 0xDFFF:
                return chr(code)
        raise self._fail()
