"""The layer rule (DESIGN.md): a module imports from its own package and from the layers below it, never above,
unless the importing line says why (a comment with "upward import:" on it or just above it).

Lowest first: the top-level helpers (atomic, device, fingerprint, ...), data, then acquire and standin (they
write what data reads, with data's readers and video io), flow, models, train, evaluate, tables, report; the cli
package and the workflow-facing top-level modules (config, stage_fingerprint) may import everything.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "i3d"
RANK = {"helpers": 0, "data": 1, "acquire": 2, "standin": 2, "flow": 3, "models": 4, "train": 5, "evaluate": 6,
        "tables": 7, "report": 8, "cli": 9, "workflow": 9}
WORKFLOW_FACING = {"config", "stage_fingerprint"}
REASON = "upward import:"


def layer(module: str) -> str:
    """The layer of dotted module ``i3d.x[.y]``: its sub-package, or for a top-level module its kind."""
    parts = module.split(".")
    if len(parts) < 2:
        return "helpers"
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "workflow" if parts[1] in WORKFLOW_FACING else "helpers"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every i3d import in ``path``, relative ones resolved."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = name if rel.name == "__init__" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return [(line, m) for line, m in found if m == "i3d" or m.startswith("i3d.")]


def upward_imports(with_reason: bool) -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        here = layer(".".join(rel.parts))
        for line, module in imports(path):
            there = layer(module)
            if there == here or RANK[there] < RANK[here] or (here in ("cli", "workflow")):
                continue
            explained = any(REASON in text for text in lines[max(0, line - 2):line])
            if explained == with_reason:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {here} imports {module} ({there})")
    return out


def test_no_module_imports_a_layer_above_its_own_without_a_reason():
    assert upward_imports(with_reason=False) == []


def test_the_layers_cover_every_package():
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} <= set(RANK)
