"""Check real answers against /openapi.json: each must be a documented status and content type,
and a JSON body must validate against the documented schema (refs resolved in the document).

    checker = OpenApiChecker(client.get("/openapi.json").json())
    checker.watch(client)          # every answer `client` gets from now on is checked
    checker.missing_successes()    # operations not yet seen answering 2xx
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator


@dataclass
class OpenApiChecker:
    document: dict[str, Any]
    seen: set[tuple[str, str, int]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._routes = [
            (method, template, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"))
            for template, operations in self.document["paths"].items()
            for method in operations
        ]

    def operations(self) -> set[tuple[str, str]]:
        return {(method, template) for method, template, _ in self._routes}

    def watch(self, client: httpx.Client) -> None:
        client.event_hooks["response"].append(self._on_response)

    def missing_successes(self) -> set[tuple[str, str]]:
        done = {(method, template) for method, template, status in self.seen if status < 300}
        return self.operations() - done

    def _on_response(self, response: httpx.Response) -> None:
        response.read()
        try:
            self.check(response)
        except AssertionError as exc:
            self.problems.append(str(exc))
            raise

    def check(self, response: httpx.Response) -> None:
        method, path = response.request.method.lower(), response.request.url.path
        found = [
            template for m, template, pattern in self._routes if m == method and pattern.match(path)
        ]
        if not found:
            return  # a web page or an unknown route: not part of the API document
        template = min(found, key=lambda t: t.count("{"))  # /api/jobs/schema before {job_id}
        label = f"{method.upper()} {template} -> {response.status_code}"
        documented = self.document["paths"][template][method]["responses"]
        spec = documented.get(str(response.status_code))
        assert spec is not None, f"{label}: status not documented ({sorted(documented)})"
        content = spec.get("content", {})
        media = response.headers.get("content-type", "").split(";")[0].strip()
        assert media in content, f"{label}: content type {media!r} not in {sorted(content)}"
        schema = content[media].get("schema")
        if media == "application/json" and schema is not None:
            validator = Draft202012Validator(
                {**schema, "components": self.document["components"]},
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
            errors = sorted(validator.iter_errors(response.json()), key=str)
            assert not errors, f"{label}: body does not match the document: {errors[0].message}"
        for name, header in spec.get("headers", {}).items():
            assert name.lower() in response.headers, f"{label}: header {name} missing"
            if header.get("schema", {}).get("type") == "integer":
                assert response.headers[name].isdigit(), f"{label}: {name} is not an integer"
        self.seen.add((method, template, response.status_code))
