"""The repository's own tooling, beside `scripts/` and `tests/` and not in the installed package: what only
kerasll's maintainers run.

- `timing`, `machine`: interleaved timing and the machine's name for the benchmark scripts;
- `parity`, `reference`, `smoothing_reference`: kerasll beside the reference AutoAttack and smoothing code;
- `masked`: models known to mask gradients, the self-checks' positive cases (tests, flag calibrations);
- `selection`: choosing a defense's strength on a validation split (`scripts/select_strength.py`);
- `autoattack_docs`, `certified`, `readme`: the docs' generated sections and README blocks;
- `ship`: which reproduction entries ship as the repository's `zoo/`, and copying them there;
- `files`, `cluster`, `idx`: a docs block writer, a localhost `TF_CONFIG` cluster, IDX files for tests.

Scripts import it as `devtools` (they run with `scripts/` on the path); the tests too (pytest's `pythonpath`).
The paper's results writer that `kerasll reproduce --results` runs is in the package: `kerasll.zoo.paper`.
"""

import os
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]


def child_env(**extra):
    """This process's environment plus `extra`, with `scripts/` on PYTHONPATH: a `python -m devtools.…` child
    process finds the tooling from any working directory."""
    paths = [str(SCRIPTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}
