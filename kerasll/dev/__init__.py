"""Development tooling, not the runtime path: the library, `kerasll eval` and `kerasll train` never import it.

- `timing`: interleaved timing for the benchmark scripts under `scripts/`;
- `parity`: comparing kerasll's AutoAttack with the reference's, stage by stage (`scripts/benchmark_reference.py`);
- `masked`: models known to mask gradients, the self-checks' positive cases (tests, flag calibrations);
- `selection`: choosing a defense's strength on a validation split (`scripts/select_strength.py`);
- `paper`: the paper's results from a reproduction zoo (`kerasll reproduce --results`, `scripts/make_results.py`),
  and shipping the repository's own `zoo/`.
"""
