"""A download is named after its job's title, safely."""

from __future__ import annotations

import pytest

from datagems_core.output.file_names import FileName, content_disposition, file_name_for


@pytest.mark.parametrize(
    ("title", "ascii", "unicode"),
    [
        ("Bank tickets", "bank-tickets.csv", "bank-tickets.csv"),
        ("Café crème!", "cafe-creme.csv", "café-crème.csv"),
        ("Заявки банка", "job_1_abc123.csv", "заявки-банка.csv"),
        ("../../etc/passwd", "etc-passwd.csv", "etc-passwd.csv"),
        ('a"; b\r\nSet-Cookie: x', "a-b-set-cookie-x.csv", "a-b-set-cookie-x.csv"),
        ("  --  ", "job_1_abc123.csv", "job_1_abc123.csv"),
    ],
)
def test_file_name_is_a_slug_of_the_title(title, ascii, unicode):
    assert file_name_for(title, "job_1_abc123", "csv") == FileName(ascii=ascii, unicode=unicode)


def test_a_long_title_is_cut_at_a_word_boundary_of_dashes():
    name = file_name_for("word " * 40, "job_1_abc123", "json")
    assert len(name.ascii) <= 80 + len(".json")
    assert not name.ascii.startswith("-") and "-.json" not in name.ascii


def test_content_disposition_adds_filename_star_only_for_non_ascii_names():
    plain = file_name_for("Bank tickets", "job_1", "csv")
    assert content_disposition(plain) == 'attachment; filename="bank-tickets.csv"'
    accented = file_name_for("Café", "job_1", "csv")
    assert content_disposition(accented) == (
        "attachment; filename=\"cafe.csv\"; filename*=UTF-8''caf%C3%A9.csv"
    )
