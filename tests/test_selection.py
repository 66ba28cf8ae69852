"""scripts/select_strength.py's rule: the most robust *stable* candidate reaching the clean floor."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "select_strength.py"


@pytest.fixture(scope="module")
def select():
    spec = importlib.util.spec_from_file_location("select_strength", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Training accuracy of adflat difference μ=1024 on the 30-epoch budget (first 11 epochs):
# it fell to chance, and to 50% one epoch before that.
COLLAPSED = [0.644, 0.69, 0.736, 0.743, 0.77, 0.714, 0.709, 0.721, 0.724, 0.502, 0.099]


def test_collapse_epoch_is_the_first_fall_below_an_earlier_best(select):
    assert select.collapse_epoch(COLLAPSED, 0.2) == 10  # 0.502 < 0.77 − 0.2
    assert select.collapse_epoch(COLLAPSED, 0.5) == 11  # 0.099 < 0.77 − 0.5
    assert select.collapse_epoch(COLLAPSED[:9], 0.2) is None


def test_a_noisy_but_stable_history_is_stable(select):
    # μ=4096's 10-epoch history dips by 0.114: weak, but not a collapse.
    assert select.collapse_epoch([0.57, 0.582, 0.586, 0.569, 0.472, 0.538, 0.57, 0.579, 0.579, 0.58], 0.2) is None


def test_choose_skips_an_unstable_candidate_and_a_clean_miss(select):
    rows = [
        {"strength": 64.0, "clean": 0.87, "apgd_ce": 0.33, "collapse_epoch": None},
        {"strength": 256.0, "clean": 0.84, "apgd_ce": 0.46, "collapse_epoch": None},
        {"strength": 1024.0, "clean": 0.81, "apgd_ce": 0.51, "collapse_epoch": 10},
        {"strength": 4096.0, "clean": 0.60, "apgd_ce": 0.55, "collapse_epoch": None},
    ]
    assert select.choose(rows, 0.80)["strength"] == 256.0
    rows[2]["collapse_epoch"] = None
    assert select.choose(rows, 0.80)["strength"] == 1024.0
    assert select.choose(rows, 0.95) is None
