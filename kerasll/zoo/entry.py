"""One zoo entry: a folder with fixed file names, written atomically, locked while training."""

import fcntl
import json
import zipfile
from contextlib import contextmanager
from pathlib import Path

from kerasll._files import write_json
from kerasll.errors import KerasllError

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
EVAL_FILE = "eval.json"
CHECKPOINT_DIR = "checkpoint"
LOGS_DIR = "logs"  # history.csv and TensorBoard event files
FIGURES_DIR = "figures"
LOCK_FILE = ".lock"

STATUSES = ("training", "complete", "failed", "interrupted")
REQUIRED = ("name", "arch", "dataset", "defense", "status")


class Entry:
    """A zoo entry folder. `problem` is None for a healthy entry, else why it is not."""

    def __init__(self, path, read_only=False):
        self.path = Path(path)
        self.name = self.path.name
        self.read_only = read_only

    model_path = property(lambda self: self.path / MODEL_FILE)
    metadata_path = property(lambda self: self.path / METADATA_FILE)
    eval_path = property(lambda self: self.path / EVAL_FILE)
    checkpoint_dir = property(lambda self: self.path / CHECKPOINT_DIR)
    figures_dir = property(lambda self: self.path / FIGURES_DIR)
    logs_dir = property(lambda self: self.path / LOGS_DIR)

    def metadata(self):
        """The parsed metadata; raises `KerasllError` naming the file if it is missing or broken."""
        try:
            data = json.loads(self.metadata_path.read_text())
        except FileNotFoundError:
            raise KerasllError(f"{self.metadata_path} is missing: {self.path} is not a kerasll zoo entry") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise KerasllError(f"{self.metadata_path} is corrupt ({error.msg if hasattr(error, 'msg') else error})") from None
        missing = [k for k in REQUIRED if k not in data] if isinstance(data, dict) else list(REQUIRED)
        if missing:
            raise KerasllError(f"{self.metadata_path} lacks {', '.join(missing)}")
        return data

    def problem(self):
        """None if the entry is usable, else a short reason ('no metadata.json', ...)."""
        try:
            meta = self.metadata()
        except KerasllError as error:
            return "no metadata.json" if not self.metadata_path.exists() else str(error)
        if meta["status"] == "complete" and not self.model_path.is_file():
            return f"status complete but {MODEL_FILE} is missing"
        if self.model_path.is_file() and not zipfile.is_zipfile(self.model_path):
            return f"{MODEL_FILE} is damaged (not a complete .keras archive, e.g. a truncated copy)"
        return None

    def status(self):
        """The recorded status, with a dead 'training' run shown as 'interrupted'."""
        status = self.metadata()["status"]
        if status == "training" and not self.is_locked():
            return "interrupted"
        return status

    def update_metadata(self, **changes):
        meta = self.metadata()
        meta.update(changes)
        write_json(self.metadata_path, meta)
        return meta

    def evaluations(self):
        """The eval.json results keyed by their settings ({} if none yet)."""
        if not self.eval_path.is_file():
            return {}
        try:
            return json.loads(self.eval_path.read_text()).get("results", {})
        except (json.JSONDecodeError, AttributeError):
            raise KerasllError(f"{self.eval_path} is corrupt; delete it or re-run eval with --force") from None

    def write_evaluation(self, key, result):
        results = self.evaluations()
        results[key] = result
        write_json(self.eval_path, {"name": self.name, "results": results})

    def is_locked(self):
        """True while a process holds the entry's training lock."""
        lock = self.path / LOCK_FILE
        if not lock.exists():
            return False
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
        return False

    @contextmanager
    def training_lock(self):
        """Hold the entry's exclusive lock; a second trainer fails at once, clearly."""
        with open(self.path / LOCK_FILE, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise KerasllError(f"entry {self.name!r} is being trained by another process") from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def load_model(self, unsafe=False, log=None):
        """The entry's Keras model, loaded with safe mode on (`unsafe`: off; see `load_classifier`)."""
        if not self.model_path.is_file():
            raise KerasllError(f"{self.model_path} is missing (entry status: {self.status()})")
        return load_classifier(self.model_path, log, unsafe)


def is_model_file(name):
    """Whether a command's NAME is a .keras file rather than a zoo entry."""
    return str(name).endswith(".keras") or Path(name).is_file()


def load_classifier(path, log=None, unsafe=False):
    """A Keras model from a .keras file, loaded with safe mode on, returning logits; one clear error if it
    cannot be loaded or is not a classifier. A model that ends in a softmax is rebuilt to return its
    pre-softmax logits, and `log(line)` says so (`kerasll.logits.as_logits`). `unsafe`: load with Keras's
    `safe_mode=False`, which runs the Python code a Lambda layer stored in the file (`log` warns)."""
    import zipfile

    from kerasll.logits import as_logits
    from kerasll.saving import load_model

    path = Path(path)
    if not path.is_file():
        raise KerasllError(f"{path} does not exist")
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # not a zip archive at all
            raise KerasllError(f"{path} is not a Keras model file (.keras files are zip archives; "
                               "save one with model.save('model.keras'))")
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                raise KerasllError(f"{path} is not a valid .keras archive: it holds no config.json (save the model "
                                   "with model.save('model.keras'))")
    except zipfile.BadZipFile as error:
        raise KerasllError(f"{path} is not a valid .keras archive ({error}; a truncated or damaged copy?): copy or "
                           "save it again") from None
    if unsafe and log is not None:
        log(f"warning: loading {path} with safe_mode=False: any Python code stored in it (a Lambda layer) runs now")
    try:
        model = load_model(path, safe_mode=not unsafe)
    except Exception as error:  # Keras raises many types for a damaged or foreign file
        text = str(error)
        if "safe_mode" in text or "unsafe_deserialization" in text:
            raise KerasllError(f"{path} holds Python code (a Lambda layer), which Keras refuses to load by default "
                               "because loading runs that code; if you trust the file, pass --unsafe to load it "
                               "with safe_mode=False") from None
        reason = (text.strip().splitlines() or [type(error).__name__])[0][:200]
        raise KerasllError(f"{path} is damaged and cannot be loaded, or is not a loadable Keras model ({reason})") \
            from None
    check_classifier(model, path)
    model, note = as_logits(model, name=path.name)
    if note is not None and log is not None:
        log(f"note: {note}")
    return model


def check_classifier(model, name):
    """Refuse, in one line, a model that does not score classes: one output vector of ≥ 2 scores per image."""
    try:
        shape = getattr(model, "classifier", model).output_shape  # a defense model wraps its classifier
    except (AttributeError, ValueError):  # a subclassed model without a known output: its first call will tell
        return
    shapes = shape if isinstance(shape, list) else [shape]
    if len(shapes) != 1 or len(shapes[0]) != 2 or shapes[0][-1] is None or shapes[0][-1] < 2:
        shown = ", ".join(str(tuple(s)) for s in shapes)
        raise KerasllError(f"{name} is not a classifier: its output has shape {shown}, and kerasll needs one score "
                           "per class, (batch, classes) with at least 2 classes")
