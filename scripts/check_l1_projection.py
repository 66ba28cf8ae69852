"""kerasll's L1-ball ∩ box projection beside the reference AutoAttack's `L1_projection` (fra31/auto-attack, torch).

    pip install torch==2.13.0 -e ".[reference]"
    python scripts/check_l1_projection.py

Random Fashion-MNIST-sized inputs (a quarter of the pixels on the box's faces), ε ∈ {1, 5, 12}: prints the
largest difference between the two projected points. 2026-12-04, this machine: 5.6e-06 over 20 batches of 64
(float32 rounding; kerasll projects in float64, the reference in float32).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: 2 threads on a shared machine otherwise crawl

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pyautoattack.autopgd_base import L1_projection  # noqa: E402

from kerasll.attacks.l1 import project_l1_box  # noqa: E402


def main(batches=20, size=64, dim=784, seed=0):
    rng, worst = np.random.default_rng(seed), 0.0
    for _ in range(batches):
        x = rng.uniform(0, 1, (size, dim)).astype(np.float32)
        x[:, : dim // 4] = rng.choice([0.0, 1.0], (size, dim // 4))
        y = rng.normal(scale=0.3, size=(size, dim)).astype(np.float32)
        eps = float(rng.choice([1.0, 5.0, 12.0]))
        theirs = (torch.tensor(y) + L1_projection(torch.tensor(x), torch.tensor(y), eps)).numpy()  # it returns a correction
        worst = max(worst, float(np.abs(theirs - project_l1_box(x, y, eps).numpy()).max()))
    print(f"max |kerasll − reference| over {batches} batches of {size}: {worst:.2g}")


if __name__ == "__main__":
    main()
