"""The shape of the package, checked from its imports: modules stay short, no import circle, each layer
imports only the layers under it, and the README's layout section names what is in the tree.

    shells     cli (reels, reels-databricks)
    wiring     pipeline (the stages over the tables, the composition root)
    stages     accounts → sources → label → media → analysis → insights → report  (only earlier ones)
    storage    storage
    vocabulary config, records, errors, retry
"""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "reels"
MAX_LINES = 400
STAGES = ("accounts", "sources", "label", "media", "analysis", "insights", "report")
VOCABULARY = ("config", "records", "errors", "retry", "analysis_schema")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """The reels modules `path` imports, anywhere in it (a lazy import inside a function counts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "reels"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "reels":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return {m for m in found if m in MODULES}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> tuple[int, int]:
    """(layer, rank within the stages): a module may import only from a lower (layer, rank)."""
    top = module.split(".")[1] if "." in module else ""
    if top in VOCABULARY:
        return (0, 0)
    if top == "storage":
        return (1, 0)
    if top in STAGES:
        return (2, STAGES.index(top))
    if top == "pipeline":
        return (3, 0)
    if top in ("cli", "__main__"):
        return (4, 0)
    return (5, 0)  # the package face, reels/__init__.py


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_longer_than_the_budget(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by what it holds (≤ {MAX_LINES})"


def test_no_import_circle() -> None:
    try:
        tuple(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' → '.join(exc.args[1])}")


def test_each_layer_imports_only_the_layers_under_it() -> None:
    upward = [
        f"{module} → {imported}"
        for module, imported_set in GRAPH.items()
        for imported in sorted(imported_set)
        if _layer(imported) > _layer(module) and imported.split(".")[:2] != module.split(".")[:2]
    ]
    assert upward == []


def test_settings_import_nothing_but_the_vocabulary() -> None:
    config = {m: deps for m, deps in GRAPH.items() if m.startswith("reels.config")}
    assert config, "the settings package moved"
    for module, deps in config.items():
        assert all(_layer(d) == (0, 0) for d in deps), f"{module} imports {sorted(deps)}"


def test_the_library_never_imports_the_shell() -> None:
    library = [m for m in GRAPH if not m.startswith(("reels.cli", "reels.__main__"))]
    assert [m for m in library if any(d.startswith("reels.cli") for d in GRAPH[m])] == []


def test_no_grab_bag_modules() -> None:
    assert [m for m in MODULES if m.rsplit(".", 1)[-1] in ("utils", "helpers", "common", "misc")] == []


def test_every_stage_package_says_what_goes_in_and_out() -> None:
    for stage in (*STAGES, "storage", "pipeline"):
        doc = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text(encoding="utf-8")))
        assert doc, f"reels.{stage} has no docstring"
        for part in ("In:", "Out:", "Tables:"):
            assert part in doc, f"reels.{stage}'s docstring does not say {part}"


def test_the_readme_layout_matches_the_tree() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- layout -->\n```\nsrc/reels/\n((?:[ ].*\n)+)", readme)
    assert block, "README.md has no layout block (<!-- layout --> then a fenced src/reels/ tree)"
    listed = set(re.findall(r"\b([a-z_]+(?:/|\.py))", block.group(1)))
    tree = {p.name + "/" for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"}
    tree |= {p.name for p in PACKAGE.rglob("*.py")}
    modules = {p.name for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    packages = {p.parent.name + "/" for p in PACKAGE.glob("*/__init__.py")}
    assert sorted((modules | packages) - listed) == [], "in the tree, not in the README's layout"
    assert sorted(listed - tree) == [], "in the README's layout, not in the tree"
