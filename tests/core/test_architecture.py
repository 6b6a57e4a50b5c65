"""The layering a file's path promises: `app/core` is what every domain uses, so it imports no domain."""

import ast
from pathlib import Path

DOMAINS = {"accounts", "attempts", "catalog", "exports", "plans", "progress", "system"}


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
    return modules


def test_core_imports_no_domain(project_root: Path) -> None:
    core = sorted((project_root / "app" / "core").glob("*.py"))
    assert core
    offending = {
        f"{path.name}: {module}"
        for path in core
        for module in _imported_modules(path)
        if module.split(".")[:2] in ([["app", domain] for domain in DOMAINS])
    }
    assert not offending


def test_the_domains_listed_here_are_the_apps_folders(project_root: Path) -> None:
    folders = {p.name for p in (project_root / "app").iterdir() if (p / "__init__.py").is_file() and p.name != "core"}
    assert folders == DOMAINS
