"""The package's layers (ARCHITECTURE.md) hold: a module imports only from its own layer and the ones
below it, so the layering stays true as the code grows. Every import counts, also inside functions."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fashionseg"

# Lower numbers are lower layers; core, store and convert are one layer. annotation and evaluation share
# a number but are side by side: neither uses the other except as ALLOWED_ACROSS says.
LAYER = {
    "exceptions": 0,
    "settings": 0,
    "core": 1,
    "store": 1,
    "convert": 1,
    "models": 2,
    "annotation": 3,
    "evaluation": 3,
    "app": 4,
    "cli": 5,
    "__main__": 5,
}
# Side by side, but one may use the other (ARCHITECTURE.md says why).
ALLOWED_ACROSS = {("evaluation.ray_batch", "annotation")}


def part_of(dotted: str) -> str:
    """``fashionseg.models.maskrcnn.model`` -> ``models``."""
    return dotted.split(".")[1]


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fashionseg."):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.module == "fashionseg":
            found += [(node.lineno, f"fashionseg.{alias.name}") for alias in node.names if alias.name != "__version__"]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("fashionseg.")]
    return found


def violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts)
        if module == "fashionseg.__init__":
            continue
        own = part_of(module)
        for line, target in imports(path):
            other = part_of(target)
            if other == own or LAYER[other] < LAYER[own]:
                continue
            within = module.removeprefix("fashionseg.").removesuffix(".__init__")
            side_by_side = {own, other} == {"annotation", "evaluation"}
            if LAYER[other] == LAYER[own] and (not side_by_side or (within, other) in ALLOWED_ACROSS):
                continue
            found.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    return found


def test_every_top_level_part_has_a_layer():
    parts = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").is_file()
    }
    assert parts - {"__init__"} == set(LAYER)


def test_no_module_imports_from_a_layer_above_its_own():
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The rule itself can fail: a core module importing the app is caught."""
    package = tmp_path / "fashionseg"
    (package / "core").mkdir(parents=True)
    (package / "app").mkdir()
    for name in LAYER:
        if name in ("exceptions", "settings", "__main__"):
            (package / f"{name}.py").write_text("")
        else:
            (package / name).mkdir(exist_ok=True)
    (package / "core" / "images.py").write_text("def f():\n    from fashionseg.app.resources import trained\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", package)
    assert violations() == ["fashionseg/core/images.py:2 imports fashionseg.app.resources"]
