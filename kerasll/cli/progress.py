"""Rich progress bars: a callable for evaluations (training's Keras callback: `training_progress`)."""

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from kerasll.cli.common import console


def bars():
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                    console=console, transient=True)


class TaskProgress:
    """`with TaskProgress("PGD") as progress: fn(progress=progress)` — a bar fed by (done, total).

    Attacks call `progress.attack(name, done, total, robust_accuracy)`: one bar
    per attack, showing the robust accuracy so far.
    """

    def __init__(self, description):
        self.description = description

    def __enter__(self):
        self.bar = bars()
        self.bar.start()
        self.task, self.done, self.phase = None, 0, None
        return self

    def __call__(self, done, total, description=None, info=""):
        phase = description or self.description
        if self.task is None or done < self.done or phase != self.phase:  # a new phase starts
            if self.task is not None:
                self.bar.update(self.task, visible=False)
            self.task = self.bar.add_task(phase, total=total, info="")
            self.phase = phase
        self.done = done
        self.bar.update(self.task, completed=done, total=total, info=info)

    def attack(self, name, done, total, robust_accuracy=None):
        info = "" if robust_accuracy is None else f"robust {100 * robust_accuracy:.2f}%"
        self(done, total, f"{self.description}: {name}", info)

    def __exit__(self, *exc):
        self.bar.stop()
