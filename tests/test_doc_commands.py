"""Every command the README and docs/ show still exists: make targets and their variables,
nmt subcommands and their flags; every link between the pages reaches a file and a heading;
every shipped config loads."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from helpers import REPO

from data_prep.recipes import RECIPE_NAMES
from nmt.cli import _parser
from nmt.config import load_config

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# code spans and fenced blocks: prose ("make sure", "nmt's") is not a command
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
MAKE = re.compile(r"(?<![\w/.-])make +([a-z][\w-]*)((?: +[A-Z][A-Z_]*=(?:\"[^\"]*\"|'[^']*'|\S*))*)")
NMT = re.compile(r"(?:^|(?<=[\s(/]))nmt +([a-z][\w-]*)([^|;&#\n`]*)", re.M)
# configs that measure at a fixed budget (make bench, the cell and attention comparisons)
# rather than train a translator, so they do not stop early
MEASURING = {"bench.yaml", "compare.yaml"}


def commands(pattern: re.Pattern) -> list[tuple[str, str, str]]:
    """(page, name, rest) of every match of ``pattern`` inside the pages' code."""
    found = []
    for page in PAGES:
        for code in CODE.findall(page.read_text(encoding="utf-8")):
            found += [(page.name, *match.groups()) for match in pattern.finditer(code)]
    return found


def makefile_targets_and_variables(text: str) -> tuple[set[str], set[str]]:
    targets = set(re.findall(r"^([a-z][\w-]*):", text, re.M))
    variables = set(re.findall(r"\$\(([A-Z][A-Z_]*)\)", text)) | set(re.findall(r"^([A-Z][A-Z_]*) *\?=", text, re.M))
    return targets, variables


def subcommand_flags() -> dict[str, set[str]]:
    subparsers = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: {flag for action in sub._actions for flag in action.option_strings}
            for name, sub in subparsers.choices.items()}


def unknown_make_uses(text: str, uses: list[tuple[str, str, str]]) -> list[str]:
    targets, variables = makefile_targets_and_variables(text)
    wrong = [f"{page}: make {target}: no such target" for page, target, _ in uses if target not in targets]
    for page, target, assignments in uses:
        wrong += [f"{page}: make {target} {name}=: no such variable"
                  for name in re.findall(r"([A-Z][A-Z_]*)=", assignments) if name not in variables]
    return wrong


def unknown_nmt_uses(uses: list[tuple[str, str, str]]) -> list[str]:
    flags = subcommand_flags()
    wrong = []
    for page, name, rest in uses:
        if name not in flags:
            wrong.append(f"{page}: nmt {name}: no such subcommand")
            continue
        wrong += [f"{page}: nmt {name} {flag}: no such flag"
                  for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest) if flag not in flags[name]]
    return wrong


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as '-'."""
    headings = re.findall(r"^#+ +(.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def broken_links(pages: list[Path]) -> list[str]:
    """'page: link' for every relative link whose file or heading does not exist."""
    broken = []
    for page in pages:
        for link in LINK.findall(CODE.sub("", page.read_text(encoding="utf-8"))):
            target, _, anchor = link.partition("#")
            if re.match(r"[a-z]+:", target):
                continue
            path = (page.parent / target) if target else page
            if not path.exists() or (anchor and path.suffix == ".md"
                                     and anchor not in heading_anchors(path.read_text(encoding="utf-8"))):
                broken.append(f"{page.name}: {link}")
    return broken


def test_the_pages_show_make_and_nmt_commands():
    assert len(commands(MAKE)) > 100 and len(commands(NMT)) > 10  # the collector finds them


def test_every_make_target_and_variable_in_the_docs_exists():
    assert unknown_make_uses((REPO / "Makefile").read_text(encoding="utf-8"), commands(MAKE)) == []


def test_every_nmt_subcommand_and_flag_in_the_docs_exists():
    assert unknown_nmt_uses(commands(NMT)) == []


def test_a_renamed_target_variable_subcommand_or_flag_is_found():
    makefile = "CONFIG ?= x\ntrain: install\n\t@nmt train --config $(CONFIG) $(ARGS)\n"
    uses = [("README.md", "train", " CONFIG=a ARGS='x'"), ("README.md", "train", " CONFG=a"),
            ("usage.md", "trian", "")]
    assert unknown_make_uses(makefile, uses) == ["usage.md: make trian: no such target",
                                                 "README.md: make train CONFG=: no such variable"]
    assert unknown_nmt_uses([("README.md", "translate", " --beam 5 --run r"), ("a.md", "translate", " --bean 5"),
                             ("b.md", "transl", "")]) == ["a.md: nmt translate --bean: no such flag",
                                                           "b.md: nmt transl: no such subcommand"]


def test_every_link_between_the_pages_reaches_a_file_and_a_heading():
    assert broken_links([*PAGES, *sorted((REPO / "docs").glob("*/*.md"))]) == []


def test_a_link_to_a_moved_heading_or_file_is_found(tmp_path):
    (tmp_path / "a.md").write_text("# Small corpora, quickly\n[x](b.md#gone) [y](#small-corpora-quickly) "
                                   "[z](c.md) [w](https://example.org/c.md) `[v](d.md)`\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Here\n", encoding="utf-8")
    assert broken_links([tmp_path / "a.md"]) == ["a.md: b.md#gone", "a.md: c.md"]


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_validates(path: Path):
    config = load_config(path)
    assert config.data.corpus in RECIPE_NAMES
    assert path.name in MEASURING or config.train.patience, f"{path.name}: does not stop early"
