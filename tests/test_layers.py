"""The package's layers only point down, and no module imports itself round a cycle.

Every ``import`` in ``src/dfrec`` (module level or inside a function) is read with ``ast`` and
checked against the layer order of docs/architecture.md::

    base (errors, compression, h264, hevc, vp9, av1, heif, io, config, device) → faces/video → data → models → losses → metrics
    → train → evaluation → recover/results/report/gallery/serve → cli

A module may import from its own layer or any layer below it, never above. A new top-level
module or package fails the test until it is given a layer here and in the docs.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "dfrec"

LAYERS = [
    ("", "_lazy", "_faults", "errors", "device", "config", "compression", "containers", "encoder_settings", "mpegts", "h264", "hevc", "vp9", "av1", "heif", "x264", "io", "video_metadata", "content_credentials"),
    ("faces", "video"),
    ("data",),
    ("models",),
    ("losses",),
    ("metrics",),
    ("train",),
    ("evaluation",),
    ("recover", "results", "report", "gallery", "serve"),
    ("cli", "__main__"),
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = ["dfrec", *p.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _owner(name: str) -> str:
    """The module that ``import name`` loads last (``dfrec.a.b.func`` -> ``dfrec.a.b``)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, path: Path) -> set[str]:
    """dfrec modules imported anywhere in the file (function-level imports included)."""
    found = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found.update(_owner(n) for n in names if n == "dfrec" or n.startswith("dfrec."))
    found.discard(module)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    assert top in LAYER, f"{module}: top-level name {top!r} has no layer (add it to LAYERS and docs/architecture.md)"
    return LAYER[top]


def test_every_module_has_a_layer():
    for m in MODULES:
        _layer(m)


def test_imports_only_point_down():
    upward = sorted(f"{m} -> {o}" for m, outs in GRAPH.items() for o in outs if _layer(o) > _layer(m))
    assert not upward, "imports that run back up the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_function_level_imports(tmp_path):
    # the old models cycle ran through an import inside a function of checkpoint.py
    f = tmp_path / "checkpoint.py"
    f.write_text("def load():\n    from dfrec.models.dfrec import DFREC\n    from . import config\n")
    assert _imports("dfrec.models.checkpoint", f) == {"dfrec.models.dfrec", "dfrec.models.config"}
    assert "dfrec.cli.main" in GRAPH["dfrec.__main__"]


def test_library_modules_parse_no_arguments():
    """Only the CLI parses arguments (maintainer tasks live in scripts/)."""
    parsing = []
    for module, path in MODULES.items():
        if module.startswith("dfrec.cli") or module == "dfrec.__main__":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            if "argparse" in names:
                parsing.append(module)
    assert not parsing, f"library modules importing argparse: {sorted(set(parsing))}"
