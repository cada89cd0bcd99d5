"""The README's layout map names every module and folder of the package, and nothing else.

The map is the indented tree under ``extensions/metalabel/`` in the code block of
"## Layout" (two spaces per level, each entry a ``*.py`` or ``folder/`` then what it
holds); ``__init__.py`` files are not listed. Below the block, a list says where each
rule of the design lives.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "extensions" / "metalabel"
MAP_ROOT = "extensions/metalabel/"
RULES = (
    "signal vote",
    "regime gate",
    "triple-barrier labels",
    "meta-model",
    "sizing",
    "performance guard",
    "kill switch",
    "pre-trade checks",
    "model lifecycle",
    "walk-forward report",
    "replay exchange",
    "tuning",
)


def _layout_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]


def map_entries(block: str) -> dict[str, str]:
    """Package-relative path -> description, from the tree under ``extensions/metalabel/``.

    >>> map_entries("x\\nextensions/metalabel/  pkg\\n  a.py  A\\n  b/  B\\n    c.py  C\\nd  D")
    {'a.py': 'A', 'b/': 'B', 'b/c.py': 'C'}
    """
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(MAP_ROOT))
    entries: dict[str, str] = {}
    parents: list[str] = []  # the folder at each depth above the current entry
    for line in lines[start + 1 :]:
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            break  # back at the top level: the package's tree has ended
        depth, odd = divmod(indent, 2)
        name, _, description = line.strip().partition(" ")
        if odd or depth > len(parents) + 1:
            raise ValueError(f"bad indentation in the layout map: {line!r}")
        if not (name.endswith(".py") or name.endswith("/")) or not description.strip():
            raise ValueError(f"not 'module.py|folder/  what it holds': {line!r}")
        del parents[depth - 1 :]
        path = "".join(parents) + name
        if path in entries:
            raise ValueError(f"{path} listed twice in the layout map")
        entries[path] = description.strip()
        if name.endswith("/"):
            parents.append(name)
    return entries


def package_tree() -> set[str]:
    """Every folder (``x/``) and module except ``__init__.py`` of the package."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*"):
        relative = path.relative_to(PACKAGE).as_posix()
        if "__pycache__" in path.parts or any(p.startswith(".") for p in path.parts):
            continue
        if path.is_dir():
            found.add(relative + "/")
        elif path.suffix == ".py" and path.name != "__init__.py":
            found.add(relative)
    return found


def test_the_map_names_every_module_and_folder_and_nothing_else() -> None:
    block = _layout_section().split("```", 2)[1]
    mapped = set(map_entries(block))
    actual = package_tree()
    assert not actual - mapped, f"missing from the README layout map: {sorted(actual - mapped)}"
    assert not mapped - actual, f"in the map but not in the package: {sorted(mapped - actual)}"


def test_every_rule_of_the_design_points_at_existing_code() -> None:
    where = _layout_section().split("```", 2)[2]
    rules = dict(re.findall(r"^- ([^:\n]+): (.+)$", where, re.MULTILINE))
    assert sorted(rules) == sorted(RULES)
    for rule, text in rules.items():
        paths = re.findall(r"`([^`]+)`", text)
        assert paths, rule
        for path in paths:
            assert (PACKAGE / path).exists(), f"{rule}: {path} does not exist"


@pytest.mark.parametrize(
    "block",
    [
        "extensions/metalabel/  p\n   odd.py  three spaces",  # not two per level
        "extensions/metalabel/  p\n    deep.py  no parent at depth 1",
        "extensions/metalabel/  p\n  a.py",  # no description
        "extensions/metalabel/  p\n  a.txt  not a module",
        "extensions/metalabel/  p\n  a.py  A\n  a.py  again",
    ],
)
def test_a_malformed_map_is_refused(block: str) -> None:
    with pytest.raises(ValueError):
        map_entries(block)
