"""Atomic file writes: readers see the old file or the new one, never half of one."""

import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data):
    """Write `data` to `path` so readers see the old or the new file, never half of one:
    a temporary file in the same folder, flushed to disk, then renamed over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a zoo may be shared
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text):
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path):
    """A JSON file's content; one-line `KerasllError` when it is not valid JSON."""
    from kerasll.errors import KerasllError

    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise KerasllError(f"{path} is not valid JSON ({error.msg})") from None


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)

