"""The README is the configuration reference and the first thing a new user runs.

Every setting's variable names appear in it, and its REST walkthrough is a shell script that
parses, fails on an HTTP error, and calls routes the API has (tests/web runs it for real).
"""

import re
import shlex
import subprocess
from pathlib import Path

from pydantic import AliasChoices

from api.main import create_app
from datagems_core.config.settings import Settings
from datagems_core.store.memory import MemoryStore
from tests.support.settings import make_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def walkthrough_script() -> str:
    """The first shell block under "Walkthrough over REST"."""
    section = README.read_text().split("\n## Walkthrough over REST\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0] + "\n"


def test_readme_documents_every_setting_name():
    text = README.read_text()
    missing = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias]
        missing += [str(name) for name in names if f"`{name}`" not in text]
    assert not missing, f"README.md does not document: {', '.join(missing)}"


def test_readme_opens_with_the_two_commands_and_how_to_choose_the_ports():
    head = README.read_text().split("\n## ")[0]
    assert "make up" in head
    assert "make test" in head
    assert "DATAGEN_APP_PORT=" in head and "DATAGEMS_PREFECT_PORT=" in head


def test_readme_says_the_mock_makes_placeholder_text():
    head = " ".join(README.read_text().split("\n## ")[0].split())
    assert "placeholder words" in head and "not text about your topic" in head


def test_walkthrough_parses_as_shell():
    result = subprocess.run(
        ["bash", "-n"], input=walkthrough_script(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_walkthrough_curls_fail_on_http_errors():
    for command in _curl_commands(walkthrough_script()):
        assert any(re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*", word) for word in command), command


def test_walkthrough_waits_for_the_job_before_exporting():
    script = walkthrough_script()
    assert script.index("while :; do") < script.index("/export?format=")
    assert "prefectUrl" in script


def test_walkthrough_calls_routes_the_api_has(tmp_path):
    app = create_app(make_settings(tmp_path), store=MemoryStore())
    paths = app.openapi()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    for command in _curl_commands(walkthrough_script()):
        method, path = _request_of(command)
        template = re.sub(r"/job_[^/]*|/\$JOB", "/{job_id}", path)
        assert (method, template) in routes, f"{method} {path}: no such route"


def _curl_commands(script: str) -> list[list[str]]:
    """Each `curl ...` of the script as its words, up to the pipe, `)` or line end that ends it."""
    text = script.replace("\\\n", " ")
    text = re.sub(r"(?m)^\s*#.*$", "", text)  # comments (their apostrophes are not quotes)
    commands, quote, start = [], "", None
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif start is None and text.startswith("curl ", i) and text[i - 1] in "( \n":
            start = i
        elif start is not None and char in "|)\n":
            commands.append(shlex.split(text[start:i]))
            start = None
    assert len(commands) >= 7, "the walkthrough's curl commands were not found"
    return commands


def _request_of(command: list[str]) -> tuple[str, str]:
    url = next(w for w in command if w.startswith("$API"))
    path = url.removeprefix("$API").split("?", 1)[0]
    method = "POST" if "-d" in command else "GET"
    return method, path
