from kerasll.cli.main import app

app(prog_name="kerasll")
