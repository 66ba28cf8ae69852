"""Ctrl-C and resume on one batch: an AutoAttack run interrupted after N seconds, re-run, and a fresh run.

The evaluation is `kerasll eval MODEL --dataset fashion_mnist --limit IMAGES --attack autoattack` at the
default batch size (1,000: one batch), a real process sent SIGINT after `--after` seconds. It prints what
the interrupted run kept, the re-run's and a fresh run's wall time, and whether their results are identical.

    python scripts/benchmark_resume.py --images 500 --after 25
"""

import argparse
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "zoo" / "fmnist-lenet-at" / "model.keras"))
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--after", type=float, default=25.0, help="seconds before SIGINT")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kerasll-resume-"))
    cmd = ["kerasll", "eval", args.model, "--dataset", "fashion_mnist", "--limit", str(args.images),
           "--attack", "autoattack", "--json"]
    run = subprocess.Popen(cmd + [str(work / "run.json")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(args.after)
    run.send_signal(signal.SIGINT)
    out, _ = run.communicate()
    said = [line.strip() for line in out.splitlines() if line.startswith("interrupted")]
    print(f"interrupted after {args.after:g} s: exit {run.returncode}; {said[0] if said else out[-500:]}")
    seconds = {}
    for name in ("run", "fresh"):
        t0 = time.perf_counter()
        done = subprocess.run(cmd + [str(work / f"{name}.json")], capture_output=True, text=True)
        seconds[name] = time.perf_counter() - t0
        assert done.returncode == 0, done.stdout + done.stderr
    a, b = (json.loads((work / f"{n}.json").read_text())["attack"] for n in ("run", "fresh"))
    same = all(a[k] == b[k] for k in ("clean_accuracy", "robust_accuracy", "by_attack", "flags"))
    print(f"re-run {seconds['run']:.1f} s, fresh run {seconds['fresh']:.1f} s "
          f"(re-run ÷ fresh {seconds['run'] / seconds['fresh']:.2f}); identical result: {same} "
          f"(AutoAttack {100 * a['robust_accuracy']:.2f}%, by attack {a['by_attack']})")


if __name__ == "__main__":
    main()
