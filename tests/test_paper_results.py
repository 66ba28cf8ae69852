"""The paper's results pipeline (kerasll.zoo.paper): claims at their thresholds, Fig. 4's points, the goal,
shipping without deleting, and one document written end to end from the shipped zoo."""

import json
import shutil
from pathlib import Path

import pytest

from kerasll.zoo.paper import claims as judge
from kerasll.zoo.paper.claims import Change, goal_verdicts, paper_claims, sweeps
from kerasll.zoo.paper.runs import MAIN, PaperRuns, role_name
from kerasll.zoo.paper.sections import selection_fallbacks
from kerasll.zoo.report import Summary

LABELS = {"none": "none", "at": "AT", "jacreg": "JacReg", "amsreg": "AMSReg", "fastat": "fast AT",
          "adflat-gradient": "adflat g", "adflat-difference": "adflat d", "adflat-at-difference": "adflat a"}


def stats(phi_none=-1.0, phi=(-0.3, -0.4, -0.2), robust=(0.5, 0.3, 0.32), aa=(0.45, 0.25, 0.28)):
    keys = ("at", "jacreg", "amsreg")
    out = {"none": Summary(0.9, 0.0, phi_none, 10000, 25 * phi_none, 0.0)}
    for k, p, r, a in zip(keys, phi, robust, aa):
        out[k] = Summary(0.8, r, p, 10000, 25 * p, a)
    return out


CHANGE = {"at": Change(0.5, 0.1), "jacreg": Change(0.5, 0.9), "amsreg": Change(0.2, 0.3), "none": Change(2, 4)}
ALL_SWEPT = judge.Sweeps({"AT": 0.9, "JacReg": 1.0}, {"AT": 5, "JacReg": 5}, [], [])


def verdicts(**kw):
    args = dict(labels=LABELS, stats=stats(), change=CHANGE, sweep=ALL_SWEPT)
    args.update(kw)
    return {c.key: c.holds for c in paper_claims(**args)}


def test_claim_1_needs_phi_halved_for_every_defense():
    assert verdicts()["1"] is True  # −1 / −0.4 = 2.5
    assert verdicts(stats=stats(phi=(-0.3, -0.51, -0.2)))["1"] is False  # 1/0.51 < 2


def test_claim_2_and_3a_name_the_flattest_and_most_robust():
    assert verdicts()["2"] is True and verdicts()["3a"] is True
    v = verdicts(stats=stats(phi=(-0.1, -0.4, -0.2), robust=(0.3, 0.31, 0.2)))
    assert v["2"] is False and v["3a"] is False


def test_claim_3b_holds_within_five_points_only():
    assert verdicts(stats=stats(robust=(0.5, 0.30, 0.35)))["3b"] is True  # 5.00 points
    assert verdicts(stats=stats(robust=(0.5, 0.30, 0.3501)))["3b"] is False


def test_claim_4_is_undecided_until_every_family_is_swept_and_fails_on_one_low_rho():
    assert verdicts()["4"] is True
    pending = sweeps({"AT": 0.9, "JacReg": 1.0}, [{"family": "AT"}] * 3 + [{"family": "JacReg"}] * 2)
    assert pending.pending == ["JacReg"] and verdicts(sweep=pending)["4"] is None
    low = sweeps({"AT": 0.9, "JacReg": 0.7}, [{"family": "AT"}] * 3 + [{"family": "JacReg"}] * 3)
    assert low.failing == ["JacReg"] and verdicts(sweep=low)["4"] is False
    assert verdicts(sweep=sweeps({}, []))["4"] is None


def test_claim_5_needs_at_twice_as_flat_along_fgsm():
    assert verdicts()["5"] is True  # 0.1 · 2 ≤ min(0.9, 0.3)
    assert verdicts(change={**CHANGE, "at": Change(0.5, 0.16)})["5"] is False


def test_claim_5_prime_appears_only_beyond_the_paper():
    assert "5′" not in verdicts()
    change = {**CHANGE, "fastat": Change(1.0, 1.0)}
    assert verdicts(change=change, beyond={"fastat": "x"})["5′"] is True  # 1.0 < min(1.8, 1.5)
    assert verdicts(change={**change, "fastat": Change(1.0, 1.6)}, beyond={"fastat": "x"})["5′"] is False


def test_goal_is_reached_only_when_all_three_conditions_hold():
    base = {"at": Summary(0.8, 0.5, -0.3, autoattack=0.45)}
    cost = {"at": 10.0, "adflat-gradient": 3.0, "adflat-difference": 3.0, "adflat-at-difference": 4.0}
    st = {**base, "adflat-gradient": Summary(0.85, autoattack=0.40),  # 5 points below, cost 0.3: reached
          "adflat-difference": Summary(0.79, autoattack=0.44),  # clean below 80%
          "adflat-at-difference": Summary(0.9, autoattack=0.44)}  # cost 0.4 > ⅓
    got = {v.key: v for v in goal_verdicts(LABELS, st, cost)}
    assert [got[k].reached for k in ("adflat-gradient", "adflat-difference", "adflat-at-difference")] == [True, False, False]
    assert got["adflat-gradient"].gap == pytest.approx(5.0)
    unmeasured = goal_verdicts(LABELS, {**base, "adflat-gradient": Summary(0.9)}, cost)
    assert unmeasured[0].gap is None and unmeasured[0].reached is False


def meta(name, defense, params, arch="lenet", accuracy=(0.5, 0.8), epochs=30):
    return {"name": name, "dataset": "fashion_mnist", "arch": arch, "defense": defense, "defense_params": params,
            "training": {"epochs": epochs}, "history": {"accuracy": list(accuracy)}}


def fake_runs(metas, stats, beyond=(), entries=None):
    return PaperRuns(Path("."), entries or {}, metas, stats, LABELS, {k: role_name(k) for k in beyond}, {}, None)


def test_fig4_points_leave_out_collapsed_exact_other_architectures_and_unmeasured():
    metas = {"a": meta("a", "at", {"eps": 4 / 255}), "b": meta("b", "jacreg", {"strength": 0.01}),
             "c": meta("c", "amsreg", {"strength": 0.5, "estimator": "exact"}),
             "d": meta("d", "at", {"eps": 8 / 255}, arch="resnet18"), "e": meta("e", "at", {"eps": 2 / 255}),
             "f": meta("f", "none", {})}
    st = {"a": Summary(0.8, 0.5, -0.3), "b": Summary(0.1, 0.1, 0.0), "c": Summary(0.8, 0.3, -0.1),
          "d": Summary(0.8, 0.5, -0.2), "e": Summary(0.8, None, -0.2), "f": Summary(0.9, 0.0, -1.0)}
    points, collapsed = fake_runs(metas, st).fig4_points()
    assert [(p["family"], p["label"]) for p in points] == [("AT", "ε=4/255")]
    assert collapsed == ["`b` (clean 10.00%, Φ = 0.000)"]


def test_selection_fallback_cites_the_chosen_strengths_collapse(tmp_path):
    (tmp_path / "selection-adflat-gradient.json").write_text(json.dumps({"defense": "adflat", "variant": "gradient",
                                                                         "chosen": 1024.0}))
    name = role_name("adflat-gradient")
    metas = {name: meta(name, "adflat", {"variant": "gradient", "strength": 256.0}),
             "x": meta("x", "adflat", {"variant": "gradient", "strength": 1024.0}, accuracy=(0.6, 0.7, 0.1, 0.1))}
    text = " ".join(selection_fallbacks(fake_runs(metas, {}, beyond=["adflat-gradient"]), tmp_path))
    assert "trained at μ=256, not the selection's μ=1024" in text and "at epoch 3" in text and "`x`" in text
    metas[name]["defense_params"]["strength"] = 1024.0
    assert selection_fallbacks(fake_runs(metas, {}, beyond=["adflat-gradient"]), tmp_path) == []


@pytest.fixture(scope="module")
def shipped_zoo(tmp_path_factory):
    from kerasll.zoo.store import REPO_ZOO, Zoo

    folder = tmp_path_factory.mktemp("paper") / "zoo"
    shutil.copytree(REPO_ZOO, folder, ignore=shutil.ignore_patterns("recipes.toml", "records"))
    return Zoo(folder, bundled=False)


def test_ship_replaces_files_merges_results_and_deletes_nothing(shipped_zoo, tmp_path):
    from devtools.ship import ship, shipped
    from kerasll.zoo.paper import load_runs

    runs = load_runs(shipped_zoo)
    names = shipped(runs)
    assert names[:4] == list(MAIN.values()) and "fmnist-lenet-fastat" in names
    target = tmp_path / "repo-zoo"
    (target / "old-entry").mkdir(parents=True)
    (target / "old-entry" / "metadata.json").write_text("{}")
    (target / names[0]).mkdir()
    (target / names[0] / "eval.json").write_text(json.dumps({"results": {"kept-curve": {"x": 1}}}))
    stale = ship(runs, names, target)
    assert stale == ["old-entry"] and (target / "old-entry" / "metadata.json").is_file()
    results = json.loads((target / names[0] / "eval.json").read_text())["results"]
    assert "kept-curve" in results and set(runs.entries[names[0]].evaluations()) <= set(results)
    assert (target / names[0] / "model.keras").read_bytes() == (runs.entries[names[0]].path / "model.keras").read_bytes()


def test_load_runs_names_the_missing_table2_entries(tmp_path):
    from kerasll.errors import KerasllError
    from kerasll.zoo.paper import load_runs
    from kerasll.zoo.store import Zoo

    with pytest.raises(KerasllError, match="fmnist-lenet-none"):
        load_runs(Zoo(tmp_path, bundled=False))


@pytest.mark.pipeline
def test_results_document_end_to_end_from_the_shipped_zoo(shipped_zoo, tmp_path):
    from kerasll.zoo.paper import Sources, load_runs, write_results

    runs = load_runs(shipped_zoo, Path("docs/data/step-cost-lenet.json"))
    (tmp_path / "results.md").write_text("old\n<!-- autoattack:start -->\nkept\n<!-- autoattack:end -->\n"
                                         "<!-- certified:start -->\nalso kept\n<!-- certified:end -->\n")
    results = write_results(runs, tmp_path, Sources(tmp_path / "none", tmp_path / "none.json", None),
                            source="embedded", fgsm_images=3)
    text = results.path.read_text()
    assert "<!-- autoattack:start -->\nkept\n<!-- autoattack:end -->" in text and "old" not in text.split("\n")[0]
    assert "<!-- certified:start -->\nalso kept\n<!-- certified:end -->" in text
    assert all((tmp_path / p).is_file() for p in ("figures/flatness-vs-robustness.png", "figures/histograms.png"))
    assert {"fig1", "fig2-0", "fig2-1", "fig3", "fig4", "fig5", "fig6", "fig6-fgsm"} == set(results.figures)
    at = runs.stat("at")
    row = next(line for line in results.lines if line.startswith(f"| {runs.labels['at']} | {at.phi:.3f}"))
    assert f"| {100 * at.robust:.2f} | {100 * at.autoattack:.2f} |" in row
    assert "averaged over the first 3 test images" in text
    claims = {c.key: c for c in results.claims}
    assert claims["3a"].holds is True and f"| {claims['3a'].line} | **yes** |" in text


def test_autoattack_section_orders_losses_and_names_fired_flags():
    from devtools.autoattack_docs import AutoAttackRow, results_section, time_sentence

    def row(label, pgd, aa, flags=(), minutes=1.0):
        result = {"clean_accuracy": 0.8, "robust_accuracy": aa, "flags": [{"code": c, "message": "m"} for c in flags],
                  "by_attack": {"apgd-ce": aa + 0.02, "apgd-t": aa + 0.01, "fab-t": aa + 0.01, "square": aa},
                  "seconds_by_attack": {"total": 60 * minutes}, "samples": 100}
        return AutoAttackRow(label, label.lower(), result, Summary(0.8, pgd))

    rows = [row("A", 0.50, 0.45), row("B", 0.40, 0.30, flags=("square",), minutes=3.0), row("C", None, 0.2)]
    text = "\n".join(results_section(rows, "cmd"))
    assert "**Who loses most between PGD-10 and AutoAttack:** B (10.00 points), then A (5.00)." in text
    assert "| C | 80.00 | — | 20.00 | — |" in text and "**Flags that fired:** B: square — m." in text
    assert "it broke 1 of 46 on A, 1 of 31 on B, 1 of 21 on C (" in text
    assert "1.0 min (a) to 3.0 min (b)" in time_sentence(rows, "cmd")


def test_reference_section_averages_seeds_and_times_autoattack_by_its_stages():
    from devtools.autoattack_docs import reference_section

    def run(seed, ours, theirs):
        stages = [{"stage": s, "n": 100, "ours": ours, "theirs": theirs, "only_ours": 1, "only_theirs": 2}
                  for s in ("apgd-ce", "apgd-t", "fab-t", "square")]
        return {"entry": "e", "seed": seed, "images": 100, "stages": stages, "port": {"logits_max_diff": 1e-6},
                "seconds": {"ours": 999, "theirs": 999},  # wall time with start-up: not AutoAttack's
                "seconds_by_stage": {"ours": {"apgd-ce": 1, "square": 2}, "theirs": {"apgd-ce": 3, "square": 6}}}

    row = next(line for line in reference_section({"a": run(0, 40, 42), "b": run(1, 44, 42)}, "cmd")
               if line.startswith("| e | 100"))
    assert row == ("| e | 100 × 2 | 42.00 / 42.00 / 42.00 / 42.00 | 42.00 / 42.00 / 42.00 / 42.00 | 2 / 4 | 0 / 0 "
                   "| 9 / 3 | 1.0e-06 | +0.00 (APGD-CE) |")
    # one stage 0.5 points weaker on average over the seeds breaks the parity margin, and is marked
    runs = {"a": run(0, 40, 42), "b": run(1, 45, 42)}
    lines = reference_section(runs, "cmd")
    assert any(line.endswith("| **+0.50 (APGD-CE)** |") for line in lines)
    assert ("| e | +0.50 [-2.0, +3.0] | +0.50 [-2.0, +3.0] | +0.50 [-2.0, +3.0] | +0.50 [-2.0, +3.0] | **no** "
            "| 2 / 4, p = 0.69 |") in lines  # 2 · P(K ≥ 4), K ~ Binomial(6, 1/2) = 2 · 22/64
    assert "Pooled over the entries: 2 / 4, sign test p = 0.69." in lines
    assert lines[-1] == "0 of 1 entries at parity."
    runs["b"]["stages"][2]["ours"] = 46  # FAB-T: (40 + 46) / 2 − 42 = +1 point; Square then broke 46 − 45 = 1
    lines = reference_section(runs, "cmd")
    assert any(line.endswith("| **+1.00 (FAB-T)** |") and "| 0 / 1 |" in line for line in lines)
    assert reference_section({"a": run(0, 42, 42), "b": run(1, 42, 42)}, "cmd")[-1] == "1 of 1 entries at parity."


def test_square_flag_section_counts_hits_false_alarms_and_any_flag():
    from devtools.autoattack_docs import square_flag_section

    def run(model, kind, broke, flags):
        return {"model": model, "kind": kind, "images": 1000, "seed": 0, "clean": 0.9, "robust": 0.4,
                "robust_before_square": 400, "square_broke": broke, "p_value": 0.5,
                "fires": "square" in flags, "flags": flags}

    runs = {"a": run("at", "clean", 1, []), "b": run("none", "clean", 0, ["order"]),
            "c": run("sg(at)", "masked", 200, ["square", "gradients"]),
            "d": run("sat(at)", "masked", 3, ["probabilities"])}
    lines = square_flag_section(runs, "cmd")
    assert lines[-1] == ("Hits: 1 of 2 masked models. False alarms: 0 of 2 shipped models. "
                         "Any flag at all: 2 of 2 masked, 1 of 2 shipped.")
    assert "| sg(at) | masked | 90.0 | 40.0 | 400 | 200 | 50.0 | 5.0e-01 | **fires** | fires | square, gradients |" in lines
