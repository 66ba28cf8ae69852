"""The docs' generated blocks: the one writer every docs script uses."""

import re
from pathlib import Path

from kerasll._files import atomic_write_text


def replace_block(path, name, body):
    """Put `body` between `<!-- NAME:start -->` and `<!-- NAME:end -->` in the file at `path` (appended, with
    the markers, when absent): the generated blocks of the docs, whose prose around them stays hand-written."""
    path = Path(path)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    new = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: new, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + new + "\n"
    atomic_write_text(path, text)
