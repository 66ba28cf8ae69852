"""Which of a reproduction's entries ship as the pretrained zoo, and copying them there."""

import json
from pathlib import Path

from kerasll._files import atomic_write_bytes, write_json
from kerasll.zoo.paper.claims import GOAL_CLEAN
from kerasll.zoo.paper.runs import ADFLAT, MAIN, role_name


def shipped(runs):
    """The entry names to ship: the four Table 2 LeNets, fast AT, Gaussian noise (smoothing's base classifier),
    and the adflat entry with the highest AutoAttack accuracy among those with clean accuracy ≥ the goal's."""
    names = list(MAIN.values()) + [role_name(k) for k in ("fastat", "gaussian") if k in runs.beyond]
    adflat = [k for k in ADFLAT if k in runs.beyond and runs.stat(k).clean >= GOAL_CLEAN
              and runs.stat(k).autoattack is not None]
    if adflat:
        names.append(role_name(max(adflat, key=lambda k: runs.stat(k).autoattack)))
    return names


def ship(runs, names, target):
    """Copy the entries `names` into the zoo folder `target`: model.keras and metadata.json replaced, eval.json
    merged (results stored there since, such as ε-curves, stay). Nothing is deleted: returns the names of
    entries in `target` that are not in `names`, for the caller to report."""
    target = Path(target)
    for name in names:
        folder = target / name
        folder.mkdir(parents=True, exist_ok=True)
        for f in ("model.keras", "metadata.json"):
            atomic_write_bytes(folder / f, (runs.entries[name].path / f).read_bytes())
        kept = json.loads((folder / "eval.json").read_text())["results"] if (folder / "eval.json").is_file() else {}
        write_json(folder / "eval.json", {"name": name, "results": kept | runs.entries[name].evaluations()})
    return sorted(p.name for p in target.iterdir() if (p / "metadata.json").is_file() and p.name not in names)
