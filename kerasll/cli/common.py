"""Shared CLI pieces: the error-handling command group, the --zoo option, consoles."""

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from kerasll.errors import Interrupted, KerasllError, is_ctrl_c
from kerasll.zoo.entry import is_model_file

INTERRUPTED_EXIT = 130  # 128 + SIGINT, the shells' convention for Ctrl-C

# soft_wrap: lines are never broken at the console width (80 columns when piped), so printed
# paths and headers stay whole for grep and scripts; tables still fit the width.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


# Help texts that name registered things (defenses, attacks, data sets…), written when help is shown:
# {(command path, option name): callable returning the text}. A defense registered after the CLI
# modules were imported still shows in `kerasll train --help`.
GENERATED_HELP = {}


def generated_help(command, option):
    """Decorator: `fn()` writes the help of `option` of `command` (e.g. "train", "defense")."""
    def register(fn):
        GENERATED_HELP[(command, option)] = fn
        return fn
    return register


class KerasllGroup(TyperGroup):
    """Every user mistake ends as one line on stderr and a non-zero exit, no traceback."""

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        path = " ".join([*ctx.command_path.split()[1:], name])
        for param in getattr(command, "params", []):
            fn = GENERATED_HELP.get((path, param.name))
            if fn is not None:
                param.help = fn()
        return command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KerasllError as error:
            message = error.for_cli() if hasattr(error, "for_cli") else str(error)  # CLI words, not Python's
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(1) from None
        except (KeyboardInterrupt, SystemError) as interrupt:
            if not is_ctrl_c(interrupt):
                raise
            said = f": {interrupt}" if isinstance(interrupt, Interrupted) and str(interrupt) else ""
            typer.echo(f"interrupted{said}", err=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except Exception as error:
            # click's exceptions (which typer raises) by their documented interface, without
            # importing the click copy typer vendors: `exit_code`, `format_message()`, `ctx`.
            if not (hasattr(error, "exit_code") and hasattr(error, "format_message")):
                raise
            ctx = getattr(error, "ctx", None)
            if type(error).__name__ == "NoArgsIsHelpError":
                typer.echo(ctx.get_help())
                sys.exit(0)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None and error.exit_code == 2 else ""
            typer.echo(f"error: {error.format_message()}{hint}", err=True)
            sys.exit(error.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


def new_app(help_text):
    return typer.Typer(cls=KerasllGroup, help=help_text, no_args_is_help=True,
                       rich_markup_mode="rich", pretty_exceptions_enable=False, add_completion=False)


ZooOption = Annotated[
    Optional[Path],
    typer.Option("--zoo", envvar="KERASLL_ZOO", show_envvar=True,
                 help="Zoo folder (default: ~/.kerasll/zoo). The repository's zoo/ is always shown read-only."),
]
DataDirOption = Annotated[
    Optional[Path], typer.Option(help="Folder with the data set's own files (IDX, CIFAR python release) or a tfds dir.")
]
SourceOption = Annotated[
    str, typer.Option(help="Where to look for data: auto, dir, system, tfds, embedded (the bundled Fashion-MNIST subset) or download (tensorflow-datasets fetches it).")
]


def output_folder(path, option="--out"):
    """`path` as a folder to write into, created if missing; a file there, or a place where no folder can be
    made, is refused in one line before anything is written."""
    if path is None:
        return None
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise KerasllError(f"{option} {path} is a file, not a folder: give a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KerasllError(f"{option} {path}: cannot create this folder ({error.strerror or error}); give a "
                           "folder you can write to") from None
    return path


def check_entries(zoo, *names):
    """{name: entry} of the zoo entries among `names` (a .keras file is checked when loaded): an unknown name is
    refused here, before TensorFlow's seconds-long import."""
    store = open_zoo(zoo)
    return {name: store.get(name) for name in names if not is_model_file(name)}


def check_request(name, request, zoo):
    """Refuse, before TensorFlow starts, what needs no model to refuse: an unknown zoo entry or surrogate, data
    set, attack, norm or version, and settings no attack takes (`eval` and `certify`: an `EvalRequest`)."""
    found = check_entries(zoo, name)
    request.check()
    request.surrogate_file(open_zoo(zoo))
    request.check_names(found[name].metadata().get("dataset") if name in found else None)


def open_zoo(path):
    from kerasll.zoo.store import Zoo

    return Zoo(path)


@contextmanager
def stdout_for_data(active=True):
    """While active, everything printed for people (progress, summaries) goes to stderr, so
    that stdout carries only the data (`--json -`) and pipes straight into `jq` or pandas."""
    if not active:
        yield
        return
    old = console._file  # None: follow sys.stdout, whatever it is when printing
    console.file = sys.stderr
    try:
        yield
    finally:
        console._file = old


def print_json(data):
    """`data` as JSON on stdout, nothing else (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def kept_only_with_json(name, json_file):
    """Ctrl-C on a model file run without --json FILE keeps nothing (its records go beside the file): say so."""
    try:
        yield
    except Interrupted:
        if is_model_file(name) and json_file is None:
            raise Interrupted("nothing was kept: a .keras file keeps its finished work only with --json FILE") \
                from None
        raise


def check_writable(path):
    """Refuse a --json path whose folder is missing, or that is a folder, before any work."""
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise KerasllError(f"cannot write --json {path}: folder {parent} does not exist")
    if Path(path).is_dir():
        raise KerasllError(f"cannot write --json {path}: it is a folder")


def parse_list(text, what):
    """'0.12,0.25' → (0.12, 0.25); one line naming the bad value otherwise."""
    values = []
    for part in (p.strip() for p in str(text).split(",")):
        try:
            values.append(float(part))
        except ValueError:
            raise KerasllError(f"{what} takes numbers separated by commas, e.g. 0.12,0.25,0.5; got {part!r}") from None
    return tuple(values)
