"""Fingerprint of what one ``i3d`` subcommand executes, for the rule that runs it (its ``code`` param).

Fingerprinting the ``i3d/cli/`` package whole would tie every stage to every other (its handlers import each
stage inside functions), and the registry's builders import every model module, so a C3D edit would retrain I3D.
A stage's code is therefore: its slice of the cli package (``main``, the modules' top-level statements, the
parsers' shared statements, the stage's own parser block and handler, and the cli helpers these call) plus the
package modules the handler imports, transitively; for a job of one architecture, without the model modules
that only other architectures' builders import. Comments and docstrings never count (see :mod:`i3d.fingerprint`).

Light: the Snakefile imports this (no torch; the registry is read without building anything).
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from functools import cache

from i3d.fingerprint import code_fingerprint, import_closure, module_path, package_imports, strip_docstrings
from i3d.models.registry import get_spec, list_architectures

CLI = "i3d.cli"
PARSER = "build_parser"

Function = tuple[str, str]
"""A cli function by (module, name): each command module has its own ``add_parsers``."""


@cache
def stage_fingerprint(handler: str, arch: str | None = None) -> str:
    """16 hex digits over the code that ``i3d`` runs through the cli function ``handler`` (e.g. ``_train``),
    for a job of architecture ``arch`` (None: a stage that may build any)."""
    nodes = cli_slice(handler)
    digest = hashlib.sha256()
    for _, node in nodes:
        digest.update(ast.dump(node, annotate_fields=False).encode())
    imported = slice_imports(nodes)
    exclude = other_architectures_modules(arch, imported) if arch else frozenset()
    digest.update(code_fingerprint(*imported, exclude=exclude).encode())
    return digest.hexdigest()[:16]


def slice_imports(nodes: list[tuple[str, ast.AST]]) -> list[str]:
    """The package modules (or names in them) that a slice imports, but the cli package's own (the slice
    holds what of those runs)."""
    names = set().union(*(package_imports(node, module, module == CLI) for module, node in nodes))
    return sorted(name for name in names if name != CLI and not name.startswith(CLI + "."))


def cli_modules() -> dict[str, ast.Module]:
    """Every module of the cli package, by dotted name, parsed without docstrings."""
    package = module_path(CLI).parent
    return {(CLI if path.stem == "__init__" else f"{CLI}.{path.stem}"): strip_docstrings(ast.parse(path.read_text()))
            for path in sorted(package.glob("*.py"))}


def cli_slice(handler: str) -> list[tuple[str, ast.AST]]:
    """The statements of the cli package, each with its module, that run for the subcommand whose parser sets
    ``func=handler``."""
    modules = cli_modules()
    functions = {(module, node.name): node for module, tree in modules.items() for node in tree.body
                 if isinstance(node, ast.FunctionDef)}
    names = {module: _function_names(module, tree, functions) for module, tree in modules.items()}
    parsers = [key for key, node in functions.items() if key == (CLI, PARSER) or _parser_blocks(node)[1]]
    shared: list[tuple[str, ast.AST]] = []
    owned: dict[str, list[tuple[str, ast.AST]]] = {}
    for module, name in parsers:
        common, blocks = _parser_blocks(functions[module, name])
        shared += [(module, node) for node in common]
        for owner, statements in blocks.items():
            owned.setdefault(owner, []).extend((module, node) for node in statements)
    if not any(name == handler for _, name in functions):
        raise ValueError(f"{handler!r} is not a function of {CLI}")
    if handler not in owned:
        raise ValueError(f"no subcommand of {CLI}.{PARSER} runs {handler!r}")
    block_module = owned[handler][0][0]
    home = names[block_module][handler][0]  # the module that defines the handler the block names
    top = [(module, node) for module, tree in modules.items() for node in tree.body
           if not isinstance(node, ast.FunctionDef)]
    parser_part = shared + owned[handler]
    start = [((home, handler), functions[home, handler]), ((CLI, "main"), functions[CLI, "main"])]
    called = _called_functions([*start, *(((m, ""), node) for m, node in parser_part)], functions, names,
                               set(parsers))
    return top + parser_part + [(module, functions[module, name]) for module, name in sorted(called | {
        (home, handler), (CLI, "main")})]


def _function_names(module: str, tree: ast.Module, functions: dict[Function, ast.FunctionDef]) -> dict[str, Function]:
    """The cli functions that a bare name in ``module`` means: its own, and those it imports from its siblings."""
    names = {name: (m, name) for m, name in functions if m == module}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            source = f"{CLI}.{node.module}"
            names.update({(a.asname or a.name): (source, a.name) for a in node.names if (source, a.name) in functions})
    return names


def _parser_blocks(parser: ast.FunctionDef) -> tuple[list[ast.stmt], dict[str, list[ast.stmt]]]:
    """A parser builder's statements split into those every subcommand runs and, per handler, the block that
    builds its subcommand: from ``p = ...`` to the next assignment of ``p``, owned by the handler that
    block's ``p.set_defaults(func=...)`` names (a block without one, e.g. a command group, is shared)."""
    shared: list[ast.stmt] = []
    owned: dict[str, list[ast.stmt]] = {}
    blocks: dict[str, tuple[list[ast.stmt], str | None]] = {}

    def close(var: str) -> None:
        statements, owner = blocks.pop(var)
        (owned.setdefault(owner, []) if owner else shared).extend(statements)

    for statement in parser.body:
        target = _assigned_name(statement)
        if target is not None:
            if target in blocks:
                close(target)
            blocks[target] = ([statement], None)
            continue
        used = [n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and n.id in blocks]
        if not used:
            shared.append(statement)
            continue
        statements, owner = blocks[used[0]]
        blocks[used[0]] = ([*statements, statement], owner or _set_defaults_func(statement))
    for var in list(blocks):
        close(var)
    return shared, owned


def _assigned_name(statement: ast.stmt) -> str | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id
    return None


def _set_defaults_func(statement: ast.stmt) -> str | None:
    """``h`` for a ``x.set_defaults(func=h)`` statement."""
    call = statement.value if isinstance(statement, ast.Expr) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "set_defaults":
        for keyword in call.keywords:
            if keyword.arg == "func" and isinstance(keyword.value, ast.Name):
                return keyword.value.id
    return None


def _called_functions(nodes: list[tuple[Function, ast.AST]], functions: dict[Function, ast.FunctionDef],
                      names: dict[str, dict[str, Function]], parsers: set[Function]) -> set[Function]:
    """cli functions that ``nodes`` name, transitively; not the parser builders (their slice is already
    there), nor other subcommands' handlers (parser blocks name only their own)."""
    found: set[Function] = set()
    todo = list(nodes)
    while todo:
        (module, _), node = todo.pop()
        for name in ast.walk(node):
            key = names[module].get(name.id) if isinstance(name, ast.Name) else None
            if key is not None and key not in parsers and key not in found:
                found.add(key)
                todo.append((key, functions[key]))
    return found


def architecture_modules(arch: str) -> frozenset[str] | None:
    """The package modules that ``arch``'s registry builder (a function, or a partial of one) imports, its
    model modules; None when the builder's source cannot be read (then no job may leave any model out)."""
    builder = get_spec(arch).builder
    function = getattr(builder, "func", builder)
    try:
        source = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):
        return None
    return frozenset(name for name in package_imports(source, function.__module__) if _is_module(name))


def _is_module(name: str) -> bool:
    try:
        module_path(name)
    except ModuleNotFoundError:  # a class or function imported from a module
        return False
    return True


def other_architectures_modules(arch: str, modules: list[str]) -> frozenset[str]:
    """Model modules that ``modules`` reach only through other architectures' builders: a job of ``arch``
    never runs them (those that ``arch``'s own model or a path avoiding the registry imports do count)."""
    per_arch = {a: architecture_modules(a) for a in list_architectures()}
    if None in per_arch.values():
        return frozenset()
    others = set().union(*(modules for a, modules in per_arch.items() if a != arch))
    own = import_closure(per_arch[arch])
    without_registry = import_closure(modules, exclude=[get_spec.__module__])
    return frozenset(others - set(own) - set(without_registry))
