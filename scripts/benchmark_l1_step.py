"""What an L1-APGD step costs beside an L∞ step: the same APGD-CE run, same model and batch, per step.

    python scripts/benchmark_l1_step.py --entry fmnist-lenet-at --batch 1000 --steps 50

Each norm's run (one compiled graph, no large reps) is timed at `steps` and at `steps` / 5 iterations in
interleaved rounds (`devtools.timing.interleaved_medians`); the difference per extra iteration is a
step's cost without the run's fixed costs (content keys, ranking, the margins after the run). The ratio
is the cost of L1's sparse step and exact projection on top of the gradient. The issue's bar: ≤ 1.3×. Results are recorded
in docs/evaluation.md#the-l1-threat-model---norm-l1 with the command.
"""

import argparse
import time

from kerasll import load_dataset
from kerasll.attacks.apgd import apgd
from devtools.timing import interleaved_medians
from kerasll.zoo.store import REPO_ZOO, Zoo


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entry", default="fmnist-lenet-at")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    model = Zoo(REPO_ZOO, bundled=False).get(args.entry).load_model()
    model = getattr(model, "classifier", model)
    x, y = load_dataset("fashion_mnist", "test")
    x, y = x[:args.batch], y[:args.batch]
    budgets = {"linf": 25 / 255, "l1": 10.0}

    short = max(args.steps // 5, 1)

    def timer(norm, steps):
        def run():
            start = time.perf_counter()
            apgd(model, x, y, budgets[norm], norm=norm, steps=steps, seed=0, batch_size=args.batch, large_reps=False)
            return time.perf_counter() - start
        run()  # trace and warm up
        return run

    medians = interleaved_medians({(norm, steps): timer(norm, steps) for norm in budgets
                                   for steps in (short, args.steps)}, args.repeats)
    per_step = {norm: (medians[norm, args.steps] - medians[norm, short]) / (args.steps - short) for norm in budgets}
    for norm, seconds in per_step.items():
        print(f"{norm}: {1000 * seconds:.2f} ms per APGD-CE step on {args.batch} images")
    print(f"L1 / L∞ step cost: {per_step['l1'] / per_step['linf']:.2f}×  (bar: ≤ 1.3×)")


if __name__ == "__main__":
    main()
