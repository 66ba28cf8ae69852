"""The collapse rules (kerasll.collapse) and the selection rule: the most robust *stable* candidate."""

from kerasll.collapse import CHANCE_ACCURACY, MAX_DROP, chance_epoch, collapse_epoch, is_constant_model
from kerasll.defenses import CatastrophicOverfittingGuard
from devtools.selection import choose

# Training accuracy of adflat difference μ=1024 on the 30-epoch budget (first 11 epochs):
# it fell to chance, and to 50% one epoch before that.
COLLAPSED = [0.644, 0.69, 0.736, 0.743, 0.77, 0.714, 0.709, 0.721, 0.724, 0.502, 0.099]


def test_collapse_epoch_is_the_first_fall_below_an_earlier_best():
    assert collapse_epoch(COLLAPSED) == 10  # 0.502 < 0.77 − 0.2 (the default drop)
    assert collapse_epoch(COLLAPSED, 0.5) == 11  # 0.099 < 0.77 − 0.5
    assert collapse_epoch(COLLAPSED[:9]) is None


def test_a_noisy_but_stable_history_is_stable():
    # μ=4096's 10-epoch history dips by 0.114: weak, but not a collapse.
    assert collapse_epoch([0.57, 0.582, 0.586, 0.569, 0.472, 0.538, 0.57, 0.579, 0.579, 0.58]) is None


def test_chance_and_constant_models_share_one_threshold():
    assert chance_epoch(COLLAPSED) == 11 and chance_epoch(COLLAPSED[:10]) is None
    assert is_constant_model(0.10) and is_constant_model(CHANCE_ACCURACY) and not is_constant_model(0.16)
    assert not is_constant_model(None)


def test_the_fast_at_guard_uses_the_same_drop():
    import numpy as np

    guard = CatastrophicOverfittingGuard(np.zeros((1, 28, 28, 1), np.float32), np.zeros(1), 0.1)
    assert guard.drop == MAX_DROP == 0.2


def test_choose_skips_an_unstable_candidate_and_a_clean_miss():
    rows = [
        {"strength": 64.0, "clean": 0.87, "apgd_ce": 0.33, "collapse_epoch": None},
        {"strength": 256.0, "clean": 0.84, "apgd_ce": 0.46, "collapse_epoch": None},
        {"strength": 1024.0, "clean": 0.81, "apgd_ce": 0.51, "collapse_epoch": 10},
        {"strength": 4096.0, "clean": 0.60, "apgd_ce": 0.55, "collapse_epoch": None},
    ]
    assert choose(rows, 0.80)["strength"] == 256.0
    rows[2]["collapse_epoch"] = None
    assert choose(rows, 0.80)["strength"] == 1024.0
    assert choose(rows, 0.95) is None
