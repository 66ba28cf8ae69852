"""The architecture's arrows (docs/architecture.md), read from the source: CLI → zoo → library, and the
development tooling (`kerasll.dev`) off the runtime path."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kerasll"


def imports_of(path):
    """The kerasll modules a source file imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kerasll"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("kerasll"))
    return names


def layer_of(module):
    parts = module.split(".")
    if parts[1:2] == ["__main__"]:  # `python -m kerasll`: the command line's entry point
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in ("cli", "zoo", "dev") else "library"


def sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


def test_arrows_point_down_and_tooling_stays_off_the_runtime_path():
    rank = {"cli": 3, "dev": 2, "zoo": 1, "library": 0}
    up = []
    for module, path in sources():
        for target in imports_of(path):
            if layer_of(target) == "dev" and module != "kerasll.cli.reproduce" and layer_of(module) != "dev":
                up.append(f"{module} imports tooling {target}")
            elif rank[layer_of(target)] > rank[layer_of(module)] and layer_of(target) != "dev":
                up.append(f"{module} imports {target}, a layer above it")
    assert not up, "\n".join(up)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from kerasll.zoo.store import Zoo\n    import kerasll.dev.parity\n")
    assert {"kerasll.zoo.store", "kerasll.dev.parity"} <= imports_of(bad)
    assert layer_of("kerasll.zoo.store") == "zoo" and layer_of("kerasll.attacks.apgd") == "library"
