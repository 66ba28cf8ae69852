"""The `kerasll` command line: thin typer commands over the zoo and the library."""

import typer

import kerasll
from kerasll.cli import certify, demo, evaluate, plot, report, reproduce, train, verify, zoo_cmds
from kerasll.cli.common import new_app

app = new_app(
    "kerasll: likelihood landscapes and adversarial defenses for Keras.\n\n"
    "Main flow: [bold]kerasll train[/] → [bold]kerasll zoo list[/] → "
    "[bold]kerasll eval NAME --flatness --landscape[/] → [bold]kerasll report[/]"
)
app.command("train")(train.train)
app.command("eval")(evaluate.eval_command)
app.command("landscape")(evaluate.landscape_command)
app.command("certify")(certify.certify_command)
app.command("verify")(verify.verify_command)
app.command("report")(report.report_command)
app.command("demo")(demo.demo)
app.command("reproduce")(reproduce.reproduce_command)
app.add_typer(zoo_cmds.app, name="zoo")
app.add_typer(plot.app, name="plot")


def main():
    """The `kerasll` command (the console script and `python -m kerasll`): oneDNN's CPU kernels on
    (`numerics.use_onednn`), TensorFlow imported quietly and Keras's backend checked when a command first needs
    them, Ctrl-C remembered for `errors.is_ctrl_c`, then the typer app."""
    from kerasll.cli import backend_check, quiet
    from kerasll.errors import watch_ctrl_c
    from kerasll.numerics import use_onednn

    use_onednn()  # before TensorFlow starts: oneDNN's CPU kernels on every CPU, not only where TensorFlow picks them
    quiet.install()
    backend_check.install()
    watch_ctrl_c()
    app(prog_name="kerasll")


def _version(value: bool):
    if value:
        typer.echo(f"kerasll {kerasll.__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")):
    """kerasll: likelihood landscapes and adversarial defenses for Keras."""
