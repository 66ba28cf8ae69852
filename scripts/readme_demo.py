"""Run `kerasll demo` twice and write what it printed (and how long it took) into the README.

The README's sentence about the demo sits between `<!-- demo:start -->` and
`<!-- demo:end -->`; this script replaces it, so the numbers there are always
the ones the command prints today. `--check` only compares and exits 1 on a
difference (used by the slow test).

    python scripts/readme_demo.py           # rewrite the README block
    python scripts/readme_demo.py --check   # compare only
"""

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- demo:start -->.*?<!-- demo:end -->", re.S)


def run_demo():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "kerasll", "demo"], capture_output=True, text=True, check=True).stdout
    seconds = time.perf_counter() - start
    clean = re.search(r"clean accuracy: ([\d.]+)%", out).group(1)
    robust = re.search(r"PGD accuracy:\s+([\d.]+)%", out).group(1)
    return clean, robust, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare the README with a run; change nothing")
    args = parser.parse_args()
    runs = [run_demo() for _ in range(1 if args.check else 2)]
    clean, robust = runs[0][:2]
    text = README.read_text()
    if args.check:
        shown = re.search(r"printing ([\d.]+)%\s+clean and ([\d.]+)% PGD", BLOCK.search(text).group(0))
        ok = shown and shown.groups() == (clean, robust)
        print(f"README: {shown and shown.groups()}, demo: {(clean, robust)}: {'same' if ok else 'DIFFERENT'}")
        sys.exit(0 if ok else 1)
    same = "two runs gave the same numbers" if len({r[:2] for r in runs}) == 1 else \
        f"a second run printed {runs[1][0]}% / {runs[1][1]}%"
    low, high = sorted(r[2] for r in runs)
    block = (f"<!-- demo:start -->`time kerasll demo` measured {low:.0f}–{high:.0f} s on a 2-core CPU, printing {clean}%\n"
             f"clean and {robust}% PGD accuracy (5 epochs, seed 0; {same}; `python scripts/readme_demo.py`\n"
             f"rewrites this sentence from two fresh runs)<!-- demo:end -->")
    README.write_text(BLOCK.sub(block, text))
    print(block)


if __name__ == "__main__":
    main()
