"""The zoo: a directory of entries, plus the read-only zoo bundled with the repository.

The active zoo is `--zoo PATH`, else `$KERASLL_ZOO`, else `~/.kerasll/zoo`. The
repository's top-level `zoo/` folder (pretrained Fashion-MNIST LeNets) is shown
beside it, read-only: writing to a bundled entry (eval results, figures) first
copies it into the active zoo.
"""

import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from kerasll.errors import KerasllError
from kerasll.zoo.entry import CHECKPOINT_DIR, LOCK_FILE, METADATA_FILE, Entry

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The pretrained entries and recipes: inside the package in a wheel install (copied there by setup.py),
# else the repository's top-level zoo/ (an editable install or a clone).
PACKAGED_ZOO = Path(__file__).resolve().parents[1] / "bundled_zoo"
REPO_ZOO = PACKAGED_ZOO if PACKAGED_ZOO.is_dir() else Path(__file__).resolve().parents[2] / "zoo"


def default_zoo_path():
    return Path(os.environ.get("KERASLL_ZOO") or Path.home() / ".kerasll" / "zoo").expanduser()


def check_name(name):
    if not NAME_PATTERN.match(name or ""):
        raise KerasllError(f"invalid entry name {name!r}: use letters, digits, '.', '_' and '-' (max 128)")
    return name


class Zoo:
    """Entries of the active zoo and of the bundled zoo (the active one wins on a name clash).

    Args:
        path: the active zoo folder (created when first written to).
        bundled: also show the repository's pretrained zoo, read-only.
    """

    def __init__(self, path=None, bundled=True):
        self.path = Path(path).expanduser() if path else default_zoo_path()
        same = REPO_ZOO.exists() and self.path.exists() and self.path.resolve() == REPO_ZOO.resolve()
        self.bundled_path = REPO_ZOO if bundled and REPO_ZOO.is_dir() and not same else None

    def _folders(self, root):
        if root is None or not root.is_dir():
            return []
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def entries(self):
        """Every entry folder, healthy or not (`Entry.problem()` tells), sorted by name."""
        found = {p.name: Entry(p) for p in self._folders(self.path)}
        for p in self._folders(self.bundled_path):
            if (p / METADATA_FILE).is_file():
                found.setdefault(p.name, Entry(p, read_only=True))
        return [found[k] for k in sorted(found)]

    def complete_entries(self, dataset=None):
        """The healthy entries whose training is complete (of `dataset` only, when given): what reports use."""
        return [e for e in self.entries() if e.problem() is None and e.status() == "complete"
                and (dataset is None or e.metadata()["dataset"] == dataset)]

    def names(self):
        return [e.name for e in self.entries() if e.problem() is None]

    def get(self, name):
        """The entry called `name`; an unknown name lists the known ones."""
        for entry in self.entries():
            if entry.name == name:
                return entry
        names = self.names()
        known = ", ".join(names[:30]) + (" …" if len(names) > 30 else "") if names else "(the zoo is empty)"
        raise KerasllError(f"no zoo entry {name!r} in {self.path}; known entries: {known}")

    def exists(self, name):
        return (self.path / name).exists()

    def create(self, name, metadata):
        """Make a new entry folder with its metadata, atomically (fails if it exists)."""
        from kerasll._files import write_json

        check_name(name)
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.path, prefix=f".{name}."))
        write_json(tmp / METADATA_FILE, metadata)
        try:
            os.rename(tmp, self.path / name)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise KerasllError(f"zoo entry {name!r} already exists in {self.path}") from None
        return Entry(self.path / name)

    def writable(self, entry):
        """`entry` itself, or for a bundled entry its copy in the active zoo."""
        if not entry.read_only:
            return entry
        if not self.exists(entry.name):
            self.path.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.path, prefix=f".{entry.name}."))
            shutil.copytree(entry.path, tmp, dirs_exist_ok=True)
            os.rename(tmp, self.path / entry.name)
        return Entry(self.path / entry.name)

    def remove(self, name):
        entry = self.get(name)
        if entry.read_only:
            raise KerasllError(f"{name!r} is a bundled, read-only entry ({entry.path}); it cannot be removed")
        if entry.is_locked():
            raise KerasllError(f"entry {name!r} is being trained right now; stop that run first")
        trash = self.path / f".{name}.removing"
        os.rename(entry.path, trash)  # atomic: the entry vanishes at once
        shutil.rmtree(trash)

    def export(self, name, archive):
        """Write the entry as a .tar.gz (without its lock and training checkpoint)."""
        entry = self.get(name)
        if entry.problem():
            raise KerasllError(f"entry {name!r} is not exportable: {entry.problem()}")
        archive = Path(archive)
        if not archive.name.endswith(".tar.gz"):
            raise KerasllError(f"archive name must end in .tar.gz, got {archive.name!r}")
        skip = {LOCK_FILE, CHECKPOINT_DIR}
        tmp = archive.with_name(f".{archive.name}.tmp")
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(entry.path, arcname=name, filter=lambda m: None if Path(m.name).parts[1:2] and Path(m.name).parts[1] in skip else m)
        os.replace(tmp, archive)
        return archive

    def import_archive(self, archive, force=False):
        """Add the entry in a .tar.gz made by `export`; refuses unsafe archives.

        Refused: absolute paths, '..', links, devices, more than one top folder,
        no metadata.json. An existing entry is replaced only with `force`.
        """
        archive = Path(archive)
        if not archive.is_file():
            raise KerasllError(f"archive {archive} does not exist")
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = tar.getmembers()
                name = _check_members(members, archive)
                if self.exists(name) and not force:
                    raise KerasllError(f"entry {name!r} already exists in {self.path}; use --force to replace it")
                self.path.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(dir=self.path, prefix=f".{name}.import."))
                try:
                    tar.extractall(tmp, members=members, filter="data")
                    Entry(tmp / name).metadata()
                    if self.exists(name):
                        self.remove(name)
                    os.rename(tmp / name, self.path / name)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        except (tarfile.TarError, EOFError, OSError) as error:
            raise KerasllError(f"cannot read {archive} as a .tar.gz archive: {error}") from None
        return Entry(self.path / name)


def _check_members(members, archive):
    tops = set()
    for m in members:
        parts = Path(m.name).parts
        if m.name.startswith(("/", "\\")) or ".." in parts or not parts:
            raise KerasllError(f"refusing {archive}: unsafe path {m.name!r} in the archive")
        if not (m.isfile() or m.isdir()):
            raise KerasllError(f"refusing {archive}: {m.name!r} is a link or special file")
        tops.add(parts[0])
    if len(tops) != 1:
        raise KerasllError(f"refusing {archive}: expected one entry folder, found {sorted(tops)}")
    name = check_name(tops.pop())
    if not any(m.name == f"{name}/{METADATA_FILE}" for m in members):
        raise KerasllError(f"refusing {archive}: {name}/{METADATA_FILE} is missing")
    return name
