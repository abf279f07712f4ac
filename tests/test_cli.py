"""The ``i3d`` command line as a package: the same parser as the single module it was split from, and each
command module beside the rule file that runs its commands (workflow/rules/<name>.smk <-> i3d/cli/<name>.py).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from i3d.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
HELP = Path(__file__).with_name("cli_help.txt")
"""``--help`` of ``i3d`` and of every (sub)command, first as the single-module cli.py printed it before the split;
a flag changed on purpose is written back with ``COLUMNS=120 python3 -c "import sys; sys.path.insert(0, 'tests');
import test_cli; open('tests/cli_help.txt', 'w').write(test_cli.help_text())"`` after reading the diff."""


def parsers(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    """(command words, parser) of ``parser`` and every subcommand under it, depth first in definition order."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*words, name))


def help_text() -> str:
    return "".join(f"=== i3d {' '.join(words)} --help\n{parser.format_help()}" for words, parser in parsers(build_parser()))


def test_every_help_is_unchanged(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert help_text() == HELP.read_text()


def commands_run_by_rules() -> dict[str, set[tuple[str, ...]]]:
    """Per rule file, the ``i3d`` commands its shell commands run (a group, ``i3d tables {wildcards.table}``,
    stands for all its commands)."""
    words = {w for w, _ in parsers(build_parser())}
    found: dict[str, set[tuple[str, ...]]] = {}
    for rules in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for match in re.finditer(r"(?:\"i3d |-m i3d\.cli )([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?", rules.read_text()):
            command = tuple(w for w in match.groups() if w)
            command = command if command in words else command[:1]
            found.setdefault(rules.stem, set()).update(w for w in words if w[:len(command)] == command)
    return found


def handler_modules(command: tuple[str, ...]) -> set[str]:
    """The modules of the handlers that ``command`` (and, for a group, each command in it) runs."""
    return {parser.get_default("func").__module__ for words, parser in parsers(build_parser())
            if words[:len(command)] == command and parser.get_default("func") is not None}


def test_each_rule_files_commands_live_in_the_cli_module_of_its_name():
    found = commands_run_by_rules()
    assert set(found) == {"data", "frames", "download", "flow", "train", "evaluate", "transfer", "tables", "report"}
    for stem, commands in found.items():
        for command in commands:
            assert handler_modules(command) == {f"i3d.cli.{stem}"}, (stem, command)
