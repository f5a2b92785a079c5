"""The layer rule, read from the source: every `import` of a phism module, function-level
ones included (only `if TYPE_CHECKING:` blocks are left out: they never run), goes down or
sideways in LAYERS, and the modules import each other without a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "phism_cli"

# Lowest first. A module may import its own layer and those below it, never one above.
# "phism_cli" is the package's top-level modules (errors, text, threads, interrupts, pixels).
LAYERS = ["phism_cli", "forward", "io", "model", "inversion", "heads", "pipeline", "plots",
          "cli", "__main__"]


def _module_name(path: Path) -> str:
    parts = ("phism_cli", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "phism_cli"


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(source: str, module: str) -> set[str]:
    """The phism modules the code of `module` imports: `from a.b import c` counts a.b.c when
    that is a module, else a.b."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES
                     else node.module for a in node.names]
        else:
            continue
        if not _type_checking_only(node, parents):
            found |= {n for n in names if n.startswith("phism_cli") and n != module}
    return found


GRAPH = {module: _imports(path.read_text(), module) for module, path in MODULES.items()}


def test_every_import_is_a_module_of_the_package() -> None:
    unknown = {(m, t) for m, targets in GRAPH.items() for t in targets if t not in MODULES}
    assert not unknown, f"imports of modules that do not exist: {sorted(unknown)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down(module: str) -> None:
    rank = LAYERS.index(_layer(module))
    upward = sorted(t for t in GRAPH[module] if t in MODULES and LAYERS.index(_layer(t)) > rank)
    assert not upward, f"{module} ({_layer(module)}) imports a layer above it: {upward}"


def test_no_import_circles() -> None:
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            circle = [*path[path.index(module):], module]
            pytest.fail("import circle: " + " -> ".join(circle))
        if module in done:
            return
        path.append(module)
        for target in sorted(GRAPH.get(module, ())):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


def test_the_rule_sees_function_level_imports() -> None:
    """An import inside a function counts; one under TYPE_CHECKING does not."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
              "    from phism_cli.cli import app\n"
              "def f():\n    from phism_cli.pipeline import predict\n")
    assert _imports(source, "phism_cli.io.example") == {"phism_cli.pipeline.predict"}
