"""The layout README.md describes holds: the core imports neither Prefect nor FastAPI (nor the
layers above it), its modules do not import each other in a cycle, it has about eight
folders, and no module of the product grows far past 300 lines."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "datagems_core"
LAYERS = ("datagems_core", "api", "flows", "deployments")
MAX_LINES = 320  # "about 300"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_imports_neither_prefect_nor_fastapi_nor_the_layers_above():
    offenders = {
        str(path.relative_to(REPO)): sorted(
            name
            for name in _imports(path)
            if name.split(".")[0]
            in ("prefect", "fastapi", "starlette", "api", "flows", "deployments")
        )
        for path in CORE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_deployments_do_not_import_the_api():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "deployments").rglob("*.py")
        if any(name.split(".")[0] == "api" for name in _imports(path))
    ]
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_core_modules_import_each_other_without_a_cycle():
    modules = {_module_name(path): path for path in CORE.rglob("*.py")}
    edges = {
        name: {imported for imported in _imports(path) if imported in modules and imported != name}
        for name, path in modules.items()
    }
    seen: set[str] = set()
    cycles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        for nxt in sorted(edges[node]):
            if nxt in trail:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in seen:
                walk(nxt, [*trail, nxt])
        seen.add(node)

    for start in sorted(edges):
        if start not in seen:
            walk(start, [start])
    assert cycles == [], f"import cycles: {cycles[:3]}"


def test_the_core_has_about_eight_folders_and_a_few_kernel_modules():
    folders = [p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    kernel = [p.name for p in CORE.glob("*.py") if p.name != "__init__.py"]
    assert len(folders) <= 9, folders
    assert len(kernel) <= 8, kernel


def test_no_product_module_grows_far_past_300_lines():
    long = {
        str(path.relative_to(REPO)): lines
        for layer in LAYERS
        for path in (REPO / layer).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
