"""The architecture's arrows (docs/architecture.md), read from the source: CLI → zoo → library, and the
repository's tooling (`scripts/devtools`) outside the package, which nothing in it imports."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kerasll"
WATCHED = ("kerasll", "devtools")


def imports_of(path):
    """The kerasll modules a source file imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(WATCHED):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith(WATCHED))
    return names


def layer_of(module):
    parts = module.split(".")
    if parts[0] == "devtools":
        return "tooling"
    if parts[1:2] == ["__main__"]:  # `python -m kerasll`: the command line's entry point
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in ("cli", "zoo") else "library"


def sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


def test_arrows_point_down_and_the_package_never_imports_tooling():
    rank = {"tooling": 3, "cli": 2, "zoo": 1, "library": 0}
    up = [f"{module} imports {target}, a layer above it" for module, path in sources() for target in imports_of(path)
          if rank[layer_of(target)] > rank[layer_of(module)]]
    assert not up, "\n".join(up)
    assert not (PACKAGE / "dev").exists()  # the tooling lives in scripts/devtools, outside the wheel


def test_the_layer_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from kerasll.zoo.store import Zoo\n    import devtools.parity\n")
    assert {"kerasll.zoo.store", "devtools.parity"} <= imports_of(bad)
    assert layer_of("kerasll.zoo.store") == "zoo" and layer_of("kerasll.attacks.apgd") == "library"
    assert layer_of("devtools.parity") == "tooling"
