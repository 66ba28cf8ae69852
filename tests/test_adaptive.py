"""The adaptive checks: a budget check at twice the strongest white-box stage, transfer from a surrogate, and the
ε-curve's eps-unbounded flag."""

import keras
import numpy as np
import pytest

import kerasll as kl
from kerasll.attacks import checks
from kerasll.attacks.adaptive import budget_stage
from kerasll.attacks.registry import plan_of


def test_the_budget_check_doubles_the_strongest_white_box_stage():
    assert budget_stage(plan_of("standard")) == ("apgd-t", {"steps": 200, "restarts": 2})
    assert budget_stage(plan_of("standard", norm="l1")) == ("apgd-t", {"target_classes": 5, "steps": 200,
                                                                       "restarts": 2})
    assert budget_stage((("pgd", {"steps": 10, "step_size": 0.1, "restarts": 1}),)) == (
        "pgd", {"steps": 20, "step_size": 0.1, "restarts": 2})
    with pytest.raises(kl.KerasllError, match="needs a gradient-based attack"):
        budget_stage((("square", {}),))


@pytest.mark.pipeline
def test_transfer_from_the_unmasked_network_breaks_a_masked_model_and_flags_it(trained_lenet, fmnist):
    """Behind stop_gradient the white-box attacks find nothing; the same network without the mask, as the
    surrogate, breaks most of what they left: the transfer flag fires and the robust accuracy falls."""
    from devtools.masked import stop_gradient

    x, y = fmnist[2][:48], fmnist[3][:48]
    both = kl.autoattack(stop_gradient(trained_lenet), x, y, 0.1, version="fast", run_checks=False,
                         transfer_from=trained_lenet, context=kl.Context(batch_size=48))
    # The white-box stages break next to nothing: a few images their random starts cross the boundary from
    # (2 of 48 with TensorFlow's Eigen kernels, 3 with oneDNN's).
    assert both.by_attack["apgd-t"] >= both.clean_accuracy - 4 / 48
    found = both.adaptive["transfer"]
    assert found["robust_before"] == round(both.by_attack["apgd-t"] * 48) and found["broken"] > found["robust_before"] / 2
    assert both.robust_accuracy == pytest.approx((found["robust_before"] - found["broken"]) / 48)
    assert [f.code for f in both.flags] == ["transfer"]
    assert both.to_dict()["settings"]["transfer"] == trained_lenet.name


def test_a_surrogate_with_other_classes_is_refused_in_one_line(trained_lenet, fmnist):
    other = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(kl.KerasllError, match="scores 3 classes, the model 10"):
        kl.autoattack(trained_lenet, fmnist[2][:8], fmnist[3][:8], 0.1, version="fast", transfer_from=other)
    wrong = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(kl.KerasllError, match=r"takes \(32, 32, 3\) images"):
        kl.autoattack(trained_lenet, fmnist[2][:8], fmnist[3][:8], 0.1, version="fast", transfer_from=wrong)


def test_the_budget_and_transfer_flags_follow_their_binomial_tests():
    assert checks.check_budget_flag(0, 100) is None and checks.check_transfer(2, 100) is None
    assert checks.check_budget_flag(10, 100).code == "budget" and checks.check_transfer(10, 100).code == "transfer"
    assert checks.check_transfer(0, 0) is None


def test_an_eps_curve_that_stays_above_chance_is_flagged():
    assert checks.check_unbounded({0.0: 0.9, 0.1: 0.5}, 0.1).code == "eps-unbounded"
    assert checks.check_unbounded({0.0: 0.9, 0.5: 0.1}, 0.1) is None
    assert checks.check_unbounded({0.0: 0.9, 0.5: 0.3}, 0.5) is None  # a stated bound


def test_stored_results_with_adaptive_checks_have_their_own_key():
    from kerasll.zoo.results import ResultId

    s = kl.attack_settings("fashion_mnist", "autoattack", budget_check=True, transfer="fmnist-lenet-none")
    assert ResultId(s, 100, "").key() == \
        "autoattack-standard-linf-eps25/255-budget2x-transfer-fmnist-lenet-none-n100"
    assert "transfer" not in kl.attack_settings("fashion_mnist", "autoattack").to_dict()
    assert np.isclose(kl.attack_settings("fashion_mnist", "apgd-ce", norm="l1").eps, 10.0)


def test_the_report_finds_a_stored_autoattack_with_adaptive_checks_and_names_its_surrogate():
    from kerasll.zoo.report import flags_cell
    from kerasll.zoo.results import ResultId, adaptive_matching, adaptive_summary

    plain = kl.attack_settings("fashion_mnist", "autoattack")
    checked = kl.attack_settings("fashion_mnist", "autoattack", budget_check=True, transfer="fmnist-lenet-none")
    ids = [ResultId(s, 100, "") for s in (checked, plain)]
    adaptive = {"budget_check": {"broken": 1, "robust_before": 50}, "transfer": {"broken": 0, "robust_before": 49}}
    results = {ids[0].key(): ids[0].fields() | {"adaptive": adaptive}, ids[1].key(): ids[1].fields()}
    found = adaptive_matching(results, plain)
    assert [r["settings"].get("transfer") for r in found] == ["fmnist-lenet-none"]
    line = adaptive_summary(found[0])
    assert line == "budget ×2 broke 1/50; transfer from fmnist-lenet-none broke 0/49"
    row = {"flags": ["square"], "adaptive": line, "adaptive_flags": [{"code": "transfer"}]}
    assert flags_cell(row) == f"square, transfer (adaptive checks: {line})"
    assert flags_cell(row | {"adaptive_samples": 200}) == f"square, transfer (adaptive checks on 200 images: {line})"


def test_a_calibration_row_of_an_older_attack_revision_is_recomputed():
    from kerasll.attacks.registry import ATTACKS_REVISION
    from devtools.masked import is_current

    assert is_current({"attacks_revision": ATTACKS_REVISION})
    assert not is_current({"attacks_revision": ATTACKS_REVISION - 1}) and not is_current({}) and not is_current(None)


@pytest.mark.pipeline
def test_the_adaptive_checks_on_top_of_a_finished_autoattack_run_only_the_checks(trained_lenet, fmnist, monkeypatch):
    """`reuse=` the plain run's records: no stage of the plan runs again (counted at the attack dispatch),
    and the result is, per image, the one computed from scratch."""
    import kerasll.evaluation.core as core

    x, y = fmnist[2][:24], fmnist[3][:24]
    ran, run_attack, image_checks = [], core.run_attack, checks.image_checks
    monkeypatch.setattr(core, "run_attack", lambda name, *a, **k: ran.append(name) or run_attack(name, *a, **k))
    monkeypatch.setattr(checks, "image_checks", lambda *a, **k: ran.append("checks") or image_checks(*a, **k))
    plain = kl.autoattack(trained_lenet, x, y, 0.1, version="fast", context=kl.Context(batch_size=24))
    assert ran == ["apgd-ce", "apgd-t", "checks"]
    ran.clear()
    settings = kl.attack_settings(None, "autoattack", 0.1, version="fast", budget_check=True)
    on_top = kl.evaluate(trained_lenet, x, y, settings, reuse=plain.records, context=kl.Context(batch_size=24))
    assert ran == ["apgd-t"]  # the budget check's stage alone: neither the plan nor the self-checks ran again
    ran.clear()
    scratch = kl.evaluate(trained_lenet, x, y, settings, context=kl.Context(batch_size=24))
    assert ran == ["apgd-ce", "apgd-t", "apgd-t", "checks"]
    assert np.array_equal(on_top.robust, scratch.robust) and on_top.adaptive == scratch.adaptive
    assert on_top.by_attack == scratch.by_attack and [f.code for f in on_top.flags] == [f.code for f in scratch.flags]
    with pytest.raises(kl.KerasllError, match="not of this plan on these images"):
        kl.evaluate(trained_lenet, x[:10], y[:10], settings, reuse=plain.records)
