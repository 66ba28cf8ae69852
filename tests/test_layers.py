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


MAX_PARAMETERS = 8  # beyond it, a function's inputs form a type of their own (issue 38)
CLI_HELPERS = {"common", "progress", "training_progress", "quiet", "verified", "main", "__main__", "__init__"}


def wide_functions(path):
    """'path:line name (n parameters)' for each function of `path` with more than MAX_PARAMETERS named
    parameters (self and cls aside; *args and **kwargs not counted)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
            n = len(names) - (names[:1] in (["self"], ["cls"]))
            if n > MAX_PARAMETERS:
                out.append(f"{path.name}:{node.lineno} {node.name} ({n} parameters)")
    return out


def test_no_library_or_zoo_function_takes_more_than_eight_parameters():
    """The CLI's command functions take one parameter per option; everything else bundles its inputs."""
    wide = [w for module, path in sources() if layer_of(module) != "cli" for w in wide_functions(path)]
    assert not wide, "\n".join(wide)


def test_the_parameter_check_counts_what_a_caller_names(tmp_path):
    source = tmp_path / "wide.py"
    source.write_text("def f(a, b, c, d, e, f, g, h, i):\n    pass\n"
                      "class C:\n    def m(self, a, b, c, d, e, f, g, h, *rest, **options):\n        pass\n")
    assert wide_functions(source) == ["wide.py:1 f (9 parameters)"]


def test_cli_commands_share_helpers_and_never_import_each_other():
    """A command module (certify, evaluate, plot, …) imports only the CLI's helper modules."""
    crossed = [f"{module} imports {target}" for module, path in sources() if layer_of(module) == "cli"
               and module.split(".")[-1] not in CLI_HELPERS for target in imports_of(path)
               if target.startswith("kerasll.cli.") and target.split(".")[2] not in CLI_HELPERS]
    assert not crossed, "\n".join(crossed)
