"""Code fingerprints: what a stage executes, normalised so that comments and docstrings do not count.

Snakemake does not track imported modules, so each rule passes a fingerprint of its code as a param; a
training checkpoint records the fingerprint of the code that wrote it. A fingerprint covers a set of the
package's modules and every package module they import (at module level or inside functions), each as
``ast.dump`` of its parsed source with docstrings removed: editing a comment or a docstring changes
nothing, editing a statement changes the fingerprint of every stage that runs it, and nothing else.

Light: the Snakefile imports this (no torch, nothing outside the standard library).
"""
from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

PACKAGE = "i3d"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_path(name: str) -> Path:
    """Source file of package module ``name`` (``i3d.data.video`` -> ``.../i3d/data/video.py``)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"{name!r} is not a module of the {PACKAGE} package")
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ModuleNotFoundError(f"no source for {name!r} under {PACKAGE_DIR}")


def strip_docstrings(tree: ast.AST) -> ast.AST:
    """``tree`` without the docstrings of its module, classes and functions (changed in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@lru_cache(maxsize=None)
def _parsed(path: Path) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """(normalised digest, package modules (or names in them) imported, lazy exports) of one source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    ours = tuple(sorted(package_imports(tree, _module_name(path), path.name == "__init__.py")))
    lazy = _lazy_exports(tree)
    digest = hashlib.sha256(ast.dump(strip_docstrings(tree), annotate_fields=False).encode()).hexdigest()
    return digest, ours, lazy


def package_imports(tree: ast.AST, name: str, is_package: bool = False) -> set[str]:
    """Package modules (or names in them) that the code in ``tree``, from module ``name``, imports anywhere."""
    imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, node.module, node.level, is_package)
            imports.add(base)
            imports.update(f"{base}.{a.name}" for a in node.names)  # `from . import x` may name a module
    return {m for m in imports if m == PACKAGE or m.startswith(PACKAGE + ".")}


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    """A package's ``_SOURCES = {"Name": "submodule"}`` table (PEP 562 lazy exports, as in ``i3d.models``):
    ``from i3d.models import build`` runs ``i3d.models.registry``, which no import statement names."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_SOURCES" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(name: str, module: str | None, level: int, is_package: bool) -> str:
    """The absolute name of a (possibly relative) ``from`` import inside module ``name``."""
    if level == 0:
        return module or ""
    parts = name.split(".")
    keep = len(parts) - level + (1 if is_package else 0)
    base = ".".join(parts[:keep])
    return f"{base}.{module}" if module else base


def import_closure(modules: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """``modules`` and every package module they import, transitively; parent packages' ``__init__`` run on
    import, so they count. ``from .x import name`` counts ``x``, and ``x.name`` where that is a module or one
    of ``x``'s lazy exports. Modules in ``exclude`` are neither counted nor followed (imports a stage never
    runs, such as the model modules of the architectures a job does not build)."""
    seen: set[str] = set()
    skip = set(exclude)
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen or name in skip:
            continue
        try:
            path = module_path(name)
        except ModuleNotFoundError:  # a function or class imported from a module, or a package's lazy export
            package, _, attr = name.rpartition(".")
            lazy = _parsed(module_path(package))[2] if package.startswith(PACKAGE) else {}
            if attr in lazy:
                todo.append(f"{package}.{lazy[attr]}")
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:k]) for k in range(1, len(parts)))
        todo.extend(_parsed(path)[1])
    return sorted(seen)


def code_fingerprint(*modules: str, exclude: Iterable[str] = ()) -> str:
    """16 hex digits over the normalised source of ``modules`` and all package modules they import (but
    those in ``exclude``, see :func:`import_closure`)."""
    digest = hashlib.sha256()
    for name in import_closure(modules, exclude):
        digest.update(name.encode())
        digest.update(_parsed(module_path(name))[0].encode())
    return digest.hexdigest()[:16]

