#!/usr/bin/env bash
# scripts/benchmark_backends.py on a GPU machine that has JAX and PyTorch but no TensorFlow and no internet.
#
#   bash scripts/device_benchmark.sh prepare     # here: Keras and the two small wheels it needs into .whl/
#   bash scripts/device_benchmark.sh run [OUT [ARGS]]  # there, from this checkout (.whl/ carried): JSON + table
#
# `prepare` downloads Keras, namex and optree for CPython 3.12 (PYVER=3.11 for another) on x86-64 Linux, what
# the GPU machines run (the rest of Keras's needs, and matplotlib, typer and rich, are installed there), and
# keeps them out of git.
# `run` installs them --no-deps into a private folder, imports kerasll from this checkout (the shipped zoo/
# entry and embedded images come with it) and writes backends-benchmark.json and backends-benchmark.md to OUT
# (default: build/device); ARGS go to the benchmark (--images 100). The table's rows name the device each
# backend found.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  prepare)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    keras=$(python -c "from importlib.metadata import version; print(version('keras'))")
    python -m pip download --quiet --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "keras==${keras}" namex optree
    ls .whl
    ;;
  run)
    out="${2:-build/device}"
    shift $(( $# < 2 ? $# : 2 ))
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/kerasll-site .whl/*.whl
    export PYTHONPATH="$PWD:/tmp/kerasll-site" PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee "$out/gpu.txt" || true
    python3 scripts/benchmark_backends.py --json "$out/backends-benchmark.json" "$@" 2>&1 | tee "$out/backends-benchmark.md"
    ;;
  *)
    echo "usage: bash scripts/device_benchmark.sh prepare | run [OUT [ARGS]]" >&2
    exit 2
    ;;
esac
