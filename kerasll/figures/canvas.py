"""What every figure shares: its formats and how a figure is written (the object API, no pyplot)."""

from pathlib import Path

from kerasll.errors import KerasllError

FORMATS = (".png", ".pdf", ".svg")


def save(fig, path):
    """Write `fig` to `path` in the format its extension names (one of `FORMATS`); returns the path."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise KerasllError(f"unknown figure format {path.suffix!r}; valid choices: {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path
