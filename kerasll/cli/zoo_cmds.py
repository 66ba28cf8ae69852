"""`kerasll zoo ...`: list, show, remove, export, import entries; list recipes."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from kerasll.cli.common import ZooOption, console, generated_help, new_app, open_zoo, print_json
from kerasll.defenses import list_defenses

@generated_help("zoo list", "defense")
def defense_filter_help():
    return "Only this defense (" + ", ".join(list_defenses()) + ")."


app = new_app("Manage the model zoo: one folder per entry (model.keras, metadata.json, eval.json, figures/).")

SORT_KEYS = ("name", "robust", "autoattack", "clean", "phi", "created")
SHORT = {"fashion_mnist": "fmnist"}
STATUS_STYLE = {"complete": "green", "training": "cyan", "interrupted": "yellow", "failed": "red"}


def _row(entry):
    from kerasll.zoo.results import describe
    from kerasll.zoo.report import summary

    problem = entry.problem()
    if problem:
        return {"name": entry.name, "problem": problem}
    meta = entry.metadata()
    numbers = summary(entry)
    return {"name": entry.name, "arch": meta["arch"], "dataset": meta["dataset"], "defense": meta["defense"],
            "setting": describe(meta), "epochs": f"{meta.get('epochs_completed', 0)}/{meta.get('training', {}).get('epochs', '?')}",
            "status": entry.status(), "clean": numbers.clean, "robust": numbers.robust, "phi": numbers.phi,
            "autoattack": numbers.autoattack, "flags": numbers.flags, "verified": numbers.verified,
            "verified_method": numbers.verified_method,
            "created": meta.get("created", ""), "bundled": entry.read_only}


@app.command("list")
def list_entries(
    dataset: Annotated[Optional[str], typer.Option(help="Only this data set.")] = None,
    defense: Annotated[Optional[str], typer.Option(help=defense_filter_help())] = None,
    sort: Annotated[str, typer.Option(help="Sort by name, robust, autoattack, clean, phi or created.")] = "name",
    json_out: Annotated[bool, typer.Option("--json", help="Print the entries as a JSON list (nothing else on stdout).")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print the entries as CSV (nothing else on stdout).")] = False,
    zoo: ZooOption = None,
):
    """A table of the zoo's entries with their latest evaluation.

    Clean/robust % are the data set's paper PGD preset; AA % is AutoAttack
    (standard, L∞, same ε; a trailing ! means a self-check flagged it); verified %
    is the share proven robust at that ε (`kerasll verify`: the run on the most
    images, then milp, crown or ibp), a lower bound where AA % is an upper one; Φ is the
    mean AMS score (closer to 0 = flatter). `kerasll eval NAME --flatness`,
    `kerasll eval NAME --attack autoattack` and `kerasll verify NAME --eps 25/255`
    fill them in.

    Piped output is plain text with full names; --json and --csv are for scripts.

    Examples:

      kerasll zoo list --dataset fashion_mnist --sort robust

      kerasll zoo list --csv > zoo.csv
    """
    from kerasll.errors import KerasllError, check_choice

    check_choice("sort key", sort, SORT_KEYS)
    if json_out and csv_out:
        raise KerasllError("--json and --csv are exclusive: choose one output format")
    store = open_zoo(zoo)
    rows = [_row(e) for e in store.entries()]
    rows = [r for r in rows if "problem" in r or ((not dataset or r["dataset"] == dataset) and (not defense or r["defense"] == defense))]
    if sort != "name":
        rows.sort(key=lambda r: (r.get(sort) is None, -(r.get(sort) or 0) if sort != "created" else r.get(sort, "")),
                  reverse=False)
    if json_out or csv_out:
        return print_rows(rows, "json" if json_out else "csv")
    title = f"kerasll zoo: {store.path}" + (f" (+ bundled {store.bundled_path})" if store.bundled_path else "")
    flagged = [r for r in rows if "problem" in r]
    rows = [r for r in rows if "problem" not in r]
    pct = lambda v: "—" if v is None else f"{100 * v:.2f}"  # noqa: E731
    cells = [[r["name"] + (" (bundled)" if r["bundled"] else ""), r["arch"], SHORT.get(r["dataset"], r["dataset"]),
              r["setting"], r["epochs"], r["status"], pct(r["clean"]), pct(r["robust"]),
              pct(r["autoattack"]) + ("!" if r["flags"] else ""),
              pct(r["verified"]) + (f" {r['verified_method']}" if r["verified"] is not None else ""),
              "—" if r["phi"] is None else f"{r['phi']:.3f}"]
             for r in rows]
    if not rows:
        typer.echo(f"the zoo {store.path} has no entries; train one with `kerasll train`")
    elif console.is_terminal:
        # Names are never cut: in a narrow terminal the least useful columns are dropped instead.
        keep = list(range(len(COLUMNS)))
        width = lambda i: max(len(COLUMNS[i][0]), *(len(c[i]) for c in cells)) + 3  # noqa: E731
        for col in DROP_ORDER:
            if sum(width(i) for i in keep) + 1 <= console.width:
                break
            keep.remove([name for name, _ in COLUMNS].index(col))
        table = Table(title=title)
        for i in keep:
            table.add_column(COLUMNS[i][0], justify=COLUMNS[i][1], no_wrap=True)
        for r, c in zip(rows, cells):
            c[5] = f"[{STATUS_STYLE.get(r['status'], 'white')}]{r['status']}[/]"
            table.add_row(*(c[i] for i in keep))
        console.print(table)
    else:  # piped or redirected: plain full-width text that grep and awk can read
        typer.echo(title)
        header = [col for col, _ in COLUMNS]
        widths = [max(len(x) for x in column) for column in zip(header, *cells)]
        for line in [header, *cells]:
            typer.echo("  ".join(x.rjust(w) if j == "right" else x.ljust(w)
                                 for x, w, (_, j) in zip(line, widths, COLUMNS)).rstrip())
    for r in flagged:
        typer.echo(f"not an entry {r['name']}: {r['problem']}")


COLUMNS = (("name", "left"), ("arch", "left"), ("dataset", "left"), ("defense", "left"), ("epochs", "right"),
           ("status", "left"), ("clean %", "right"), ("robust %", "right"), ("AA %", "right"), ("verified %", "right"),
           ("Φ", "right"))
DROP_ORDER = ("arch", "dataset", "epochs", "Φ", "verified %", "clean %", "defense", "status")
FIELDS = ("name", "arch", "dataset", "defense", "setting", "epochs", "status", "clean", "robust", "autoattack",
          "flags", "verified", "verified_method", "phi", "created", "bundled", "problem")


def print_rows(rows, fmt):
    """The rows as a JSON list or CSV on stdout, and nothing else."""
    import csv
    import sys

    if fmt == "json":
        typer.echo(json.dumps([{k: r.get(k) for k in FIELDS if k in r} for r in rows], indent=2))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: (";".join(v) if isinstance(v, list) else v) for k, v in r.items()})


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Entry name.")],
         as_json: Annotated[bool, typer.Option("--json", help="Print the full record (per-epoch history included) as plain JSON on stdout, for scripts.")] = False,
         zoo: ZooOption = None):
    """Print an entry's metadata (per-epoch history summarised) and evaluations.

    Examples:

      kerasll zoo show fmnist-lenet-at

      kerasll zoo show fmnist-lenet-at --json | jq .metadata.history.val_accuracy
    """
    entry = open_zoo(zoo).get(name)
    meta = entry.metadata()
    meta["status"] = entry.status()
    if as_json:
        print_json({"name": entry.name, "path": str(entry.path), "metadata": meta, "evaluations": entry.evaluations()})
        return
    history = meta.pop("history", {})
    meta["history"] = {k: f"{len(v)} epochs, last {v[-1]:.4f}" for k, v in history.items() if v and v[-1] is not None}
    console.print_json(json.dumps({"path": str(entry.path), "metadata": meta, "evaluations": entry.evaluations()}, default=str))


@app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Entry name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    zoo: ZooOption = None,
):
    """Delete an entry (asks first unless --yes). Bundled entries cannot be removed.

    Example: kerasll zoo rm my-old-run --yes
    """
    store = open_zoo(zoo)
    entry = store.get(name)
    if not yes:
        typer.confirm(f"delete {entry.path}?", abort=True)
    store.remove(name)
    console.print(f"removed {name}")


@app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="Entry name.")],
    archive: Annotated[Path, typer.Argument(help="Output file, ending in .tar.gz.")],
    zoo: ZooOption = None,
):
    """Pack an entry into a .tar.gz to share it (without its lock and checkpoint).

    Example: kerasll zoo export fmnist-lenet-at at.tar.gz
    """
    console.print(f"wrote {open_zoo(zoo).export(name, archive)}")


@app.command("import")
def import_entry(
    archive: Annotated[Path, typer.Argument(help="A .tar.gz made by `kerasll zoo export`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing entry of the same name.")] = False,
    zoo: ZooOption = None,
):
    """Add an exported entry (refuses absolute paths, '..', links; never overwrites without --force).

    Example: kerasll zoo import at.tar.gz --zoo ~/shared-zoo
    """
    entry = open_zoo(zoo).import_archive(archive, force=force)
    console.print(f"imported {entry.name} into {entry.path}")


@app.command("recipes")
def recipes(pattern: Annotated[str, typer.Argument(help="Shell-style filter, e.g. 'fmnist-*'.")] = "*"):
    """List the training recipes of zoo/recipes.toml (`kerasll train --recipe NAME`).

    Example: kerasll zoo recipes 'cifar10-*'
    """
    from kerasll.zoo.recipes import list_recipes

    table = Table(title="recipes (kerasll train --recipe NAME)")
    table.add_column("name")
    table.add_column("description")
    for name, description in list_recipes(pattern):
        table.add_row(name, description)
    console.print(table)
