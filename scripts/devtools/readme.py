"""README's results block: the shipped entries' stored numbers, as they ship (never a copy that can go stale).

`python scripts/readme_results.py` writes it from the repository's `zoo/`; a test checks that the README
holds exactly what this module makes of the shipped eval.json files.
"""

from kerasll.errors import KerasllError
from kerasll.zoo.report import summary
from kerasll.zoo.results import describe, stored_certificates

SIGMA = 0.25  # the noise level the README shows (Cohen et al.'s middle one)


def _pct(value):
    return "—" if value is None else f"{100 * value:.2f}"


def results_block(zoo):
    """The block's Markdown lines for every complete entry of `zoo` (the repository's shipped zoo)."""
    lines = ["| entry | defense | clean % | PGD-10 % | AutoAttack % | verified % | Φ | certified % at r = 0.5 | "
             "mean radius |", "|---|---|---|---|---|---|---|---|---|"]
    for entry in zoo.complete_entries():
        s = summary(entry)
        try:
            cert = stored_certificates(zoo, entry.name, (SIGMA,))[0].result
        except KerasllError:  # not certified
            cert = None
        lines.append(f"| `{entry.name}` | {describe(entry.metadata())} | {_pct(s.clean)} | {_pct(s.robust)} | "
                     f"{_pct(s.autoattack)} | {_verified(s)} | {'—' if s.phi is None else f'{s.phi:.3f}'} | "
                     f"{'—' if cert is None else _pct(cert['certified_accuracy']['0.5'])} | "
                     f"{'—' if cert is None else format(cert['mean_radius'], '.3f')} |")
    return lines


def _verified(s):
    """Verified accuracy at AutoAttack's ε, its method and images, e.g. '68.34 (ibp, 10000)'."""
    return "—" if s.verified is None else f"{_pct(s.verified)} ({s.verified_method}, {s.verified_samples})"
