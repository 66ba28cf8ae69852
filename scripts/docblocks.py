"""Generated blocks in the docs: the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`.

The results scripts rewrite only their own blocks, so the prose around them stays
hand-written and every number inside them comes from the run that wrote it.
"""

import re


def replace_block(path, name, body):
    """Put `body` between NAME's markers in the file at `path` (appended, with the markers, when absent)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else ""
    new = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: new, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + new + "\n"
    path.write_text(text)
