"""The `kerasll` command line: thin typer commands over the library and the zoo."""

import typer

import kerasll
from kerasll.cli import demo

app = typer.Typer(
    help="kerasll: likelihood landscapes and adversarial defenses for Keras.",
    no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False,
)
app.command(name="demo")(demo.demo)


def _version(value: bool):
    if value:
        typer.echo(f"kerasll {kerasll.__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")):
    """kerasll: likelihood landscapes and adversarial defenses for Keras."""
