"""The README is the configuration reference: every setting's variable names appear in it."""

from pathlib import Path

from pydantic import AliasChoices

from datagems_core.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_documents_every_setting_name():
    text = README.read_text()
    missing = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias]
        missing += [str(name) for name in names if f"`{name}`" not in text]
    assert not missing, f"README.md does not document: {', '.join(missing)}"


def test_readme_opens_with_the_two_commands():
    head = README.read_text().split("\n## ")[0]
    assert "make up" in head
    assert "make test" in head
