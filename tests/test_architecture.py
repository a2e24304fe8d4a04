"""ARCHITECTURE.md is true: every import in the SDK follows its table of rooms, and every path it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SDK = REPO / "sdk" / "simcse_sdk"
PAGE = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
FACE = {"simcse_sdk", "simcse_sdk.encoder", "simcse_sdk.similarity", "simcse_sdk.progress"}
PUBLIC_ALIASES = {"simcse_sdk.ray": "embed", "simcse_sdk.spark": "embed"}  # re-exports of embed's, at public paths


def rooms_table() -> dict[str, set[str]]:
    """room -> the rooms it may import, read from the page's table."""
    table = {}
    for line in PAGE.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and (cells[0] == "face" or cells[0].startswith("`simcse_sdk.")):
            room = "face" if cells[0] == "face" else cells[0].strip("`").split(".")[1]
            table[room] = set() if cells[2] == "nothing" else {c.strip() for c in cells[2].split(",")}
    return table


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SDK.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    if module in FACE:
        return "face"
    if module in PUBLIC_ALIASES:
        return PUBLIC_ALIASES[module]
    return module.split(".")[1]


def sdk_imports(path: Path) -> set[str]:
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("simcse_sdk"):
                for alias in node.names:  # "from . import race": the module race, not the package
                    full = f"{target}.{alias.name}"
                    sub = SDK.parent / full.replace(".", "/")
                    out.add(full if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists() else target)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("simcse_sdk")}
    return out


def test_the_table_names_every_room_the_sdk_has():
    rooms = {room_of(module_name(p)) for p in SDK.rglob("*.py")}
    assert rooms == set(rooms_table())


def test_no_import_runs_against_the_rooms():
    table = rooms_table()
    wrong = []
    for path in sorted(SDK.rglob("*.py")):
        here = room_of(module_name(path))
        for target in sdk_imports(path):
            there = room_of(target)
            if there != here and there not in table[here]:
                wrong.append(f"{module_name(path)} ({here}) imports {target} ({there})")
    assert not wrong, "\n".join(wrong)


def test_every_path_the_page_names_exists():
    paths = set(re.findall(r"`((?:sdk|tests|export|trainer|benchmarks|docs)/[\w/.-]*)`", PAGE))
    assert len(paths) > 30
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, missing
    rooms = [r for r in re.findall(r"`(simcse_sdk(?:\.\w+)+)`", PAGE)]
    assert [r for r in rooms if not (SDK.parent / r.replace(".", "/")).exists()
            and not (SDK.parent / (r.replace(".", "/") + ".py")).exists()] == []


def test_every_room_says_what_it_owns_and_may_import():
    for init in SDK.rglob("__init__.py"):
        if init.parent == SDK:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert re.search(r"[Mm]ay import|[Ii]mports nothing", doc), f"{init} does not say what it may import"
