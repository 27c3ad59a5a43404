"""Names of the files DataGems hands to people: a download is named after its job's title.

    file_name_for("Bank tickets", "job_1_abc123", "csv")  # FileName("bank-tickets.csv", ...)
    content_disposition(name)  # 'attachment; filename="bank-tickets.csv"'

A title is user text, so the name keeps only letters and digits joined by dashes: nothing in it
can be a path, a quote or a header break. Titles in other scripts keep their letters in the
RFC 6266 `filename*` form and fall back to an ASCII name (the job id when nothing is left).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

MAX_STEM = 80
_NOT_ASCII_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class FileName:
    ascii: str
    unicode: str


def file_name_for(title: str, job_id: str, extension: str) -> FileName:
    """The file name of a job's download: a slug of its title, else its id."""
    unicode_stem = _slug("".join(c if c.isalnum() else " " for c in title.lower()))
    ascii_stem = _slug(_NOT_ASCII_WORD.sub(" ", _to_ascii(title).lower()))
    return FileName(
        ascii=f"{ascii_stem or job_id}.{extension}",
        unicode=f"{unicode_stem or ascii_stem or job_id}.{extension}",
    )


def content_disposition(name: FileName) -> str:
    """An `attachment` header value; `filename*` only when the name is not plain ASCII."""
    header = f'attachment; filename="{name.ascii}"'
    if name.unicode != name.ascii:
        header += f"; filename*=UTF-8''{quote(name.unicode, safe='')}"
    return header


def _to_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _slug(words: str) -> str:
    stem = "-".join(words.split())
    return stem[:MAX_STEM].rstrip("-")
