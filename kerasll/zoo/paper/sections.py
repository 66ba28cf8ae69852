"""The results document's section beyond the paper: fast AT, adflat, the goal, the strength selection."""

import json
from pathlib import Path

from kerasll.collapse import chance_epoch
from kerasll.zoo.paper.claims import GOAL_AA_POINTS, GOAL_CLEAN, goal_verdicts
from kerasll.zoo.paper.runs import ADFLAT, MAIN, role_name
from kerasll.zoo.report import pct


def times(v):
    return "—" if v is None else f"{v:.2f}×"


def selection_tables(folder):
    """Markdown tables of the strength selections in `folder` (selection-*.json: validation split, not the test set)."""
    lines = []
    for path in sorted(Path(folder).glob("selection-*.json")):
        d = json.loads(path.read_text())
        lines += [f"**{d['defense']} {d['variant']}** ({d['epochs']} epochs on the first {d['train_images']:,} "
                  f"training images, APGD-CE 100 steps at ε = {d['eps'] * 255:.0f}/255 on the last "
                  f"{d['validation_images']:,}; chosen: the most robust "
                  + (f"stable one (training accuracy never {d['max_drop']:.0%} below an earlier best) " if "max_drop" in d else "")
                  + f"with clean ≥ {100 * d['min_clean']:.0f}%; `python scripts/select_strength.py --defense "
                  f"{d['defense']} --variant {d['variant']} --strengths "
                  + ",".join(f"{c['strength']:g}" for c in d["candidates"])
                  + f" --epochs {d['epochs']} --zoo runs/select`, its JSON copied here):", "",
                  "| μ | " + " | ".join(f"{c['strength']:g}" for c in d["candidates"]) + " |",
                  "|---|" + "---|" * len(d["candidates"]),
                  "| clean % / APGD-CE % | " + " | ".join(selection_cell(c, d["chosen"]) for c in d["candidates"]) + " |",
                  ""]
    return lines


def selection_cell(candidate, chosen):
    """One candidate's clean / APGD-CE cell: bold when chosen, marked when its training collapsed."""
    cell = f"{100 * candidate['clean']:.1f} / {100 * candidate['apgd_ce']:.1f}"
    if candidate.get("collapse_epoch"):
        cell += f" (unstable: collapsed at epoch {candidate['collapse_epoch']})"
    return f"**{cell}**" if candidate["strength"] == chosen else cell


def selection_fallbacks(runs, folder):
    """A note for each adflat variant trained at another strength than its selection chose, with the evidence."""
    lines = []
    for path in sorted(Path(folder).glob("selection-*.json")):
        d = json.loads(path.read_text())
        key = f"{d['defense']}-{d['variant']}"
        if key not in runs.beyond:
            continue
        meta = runs.metas[role_name(key)]
        used = meta["defense_params"]["strength"]
        if used == d["chosen"]:
            continue
        chosen = [m for m in runs.metas.values() if m["defense"] == d["defense"]
                  and m["defense_params"].get("variant") == d["variant"] and m["defense_params"]["strength"] == d["chosen"]
                  and m["training"]["epochs"] == meta["training"]["epochs"]]
        evidence = ""
        if chosen:
            acc = chosen[0]["history"]["accuracy"]
            dead = chance_epoch(acc)
            evidence = (f" On the {meta['training']['epochs']}-epoch budget μ={d['chosen']:g} "
                        + (f"collapsed: its training accuracy fell to {100 * acc[dead - 1]:.1f}% (chance) at epoch {dead} "
                           f"and stayed there (entry `{chosen[0]['name']}`)." if dead is not None
                           else f"reached {100 * acc[-1]:.1f}% training accuracy (entry `{chosen[0]['name']}`)."))
        lines += [f"**{d['defense']} {d['variant']}: trained at μ={used:g}, not the selection's μ={d['chosen']:g}.**"
                  + evidence + " The fallback is the next candidate of the same selection (decided on training "
                  "data, not on the test set).", ""]
    return lines


def stress_lines(path, labels, reached):
    """The stress test of AutoAttack's robust images (scripts/stress_autoattack.py --json `path`), when it was
    run, and whether each entry in `reached` stays within the goal's distance of AT under it."""
    if not Path(path).is_file():
        return ["", "The stress test of the images AutoAttack left robust has not been run: "
                "`python scripts/stress_autoattack.py fmnist-lenet-at ENTRY --images 1000 --json "
                "docs/data/stress-autoattack.json`."]
    run = json.loads(Path(path).read_text())
    names = {role_name(k): k for k in labels}
    lines = ["", f"**Stress test** (`{run['command']} --json docs/data/stress-autoattack.json`): AutoAttack standard on "
             "the first test images, then, on the images it left robust, " + ", ".join(run["follow_ups"])
             + "; an image counts as robust only if it survives all of them.", "",
             "| model | images | AutoAttack % | after every follow-up % | drop (points) | AutoAttack flags |",
             "|---|---|---|---|---|---|"]
    for name, r in run["results"].items():
        label = labels.get(names.get(name), name)
        lines.append(f"| {label} | {r['images']:,} | {100 * r['autoattack']:.2f} | {100 * r['stressed']:.2f} | "
                     f"{r['drop_points']:.2f} | {', '.join(r['flags']) or 'none'} |")
    at = run["results"].get(MAIN["at"])
    for name in reached:
        r = run["results"].get(name)
        if at is None or r is None:
            lines += ["", f"The stress test did not include both AT and `{name}`."]
            continue
        gap = 100 * (at["stressed"] - r["stressed"])
        lines += ["", f"After the stress test `{name}` is {abs(gap):.2f} points {'below' if gap > 0 else 'above'} AT "
                  f"on these images: the goal's AutoAttack condition "
                  + ("**still holds**." if gap <= GOAL_AA_POINTS else "**no longer holds**.")]
    return lines


def beyond_section(runs, sources):
    """The section on fast AT and the adflat defenses (empty when none was trained); `sources`: a `Sources`."""
    if not runs.beyond:
        return []
    labels, cost = runs.labels, runs.cost
    lines = ["## Beyond the paper: flattening along attack directions, and fast AT", "",
             "The paper ends by asking for a regulariser that flattens the likelihood in the directions attacks use.",
             "`adflat` (`AttackFlatteningModel`) does that: x′ is one signed cross-entropy-gradient step of 1.25·ε from",
             "a uniform random start in the ε-ball (ε = 10/255, as AT), and the penalty is either ‖∇x log p̃(x′)‖²",
             "(*gradient*, double backprop) or (log p̃(x′) − log p̃(x))² (*difference*, no double backprop), added",
             "to the cross-entropy on the clean image — or, in *at-difference*, to the cross-entropy at x′ (fast AT",
             "with the difference penalty).",
             "Fast AT (`FastAdversarialTrainingModel`, Wong et al. 2020) trains on that same FGSM point, with the guard",
             "against catastrophic overfitting; it is the cost yardstick. Same budget and evaluation as Table 2.", "",
             "| defense | clean % | PGD % | AutoAttack % | Φ | Φ FGSM | step × plain | step ÷ AT's |",
             "|---|---|---|---|---|---|---|---|"]
    shown = ("at", *runs.beyond)
    for k in shown:
        st = runs.stat(k)
        rel = None if cost.get(k) is None or cost.get("at") is None else cost[k] / cost["at"]
        lines.append(f"| {labels[k]} | {pct(st.clean)} | {pct(st.robust)} | {pct(st.autoattack)} | "
                     f"{st.phi:.3f} | {'—' if st.phi_fgsm is None else f'{st.phi_fgsm:.3f}'} | {times(cost.get(k))} | "
                     f"{'—' if rel is None else f'{rel:.2f}'} |")
    flattest = max(shown, key=lambda k: runs.stat(k).phi)
    f_st, at_st = runs.stat(flattest), runs.stat("at")
    if flattest != "at" and f_st.autoattack is not None and at_st.autoattack is not None \
            and f_st.autoattack < at_st.autoattack:
        lines += ["", f"Flatness is not robustness across families: {labels[flattest]} has the flattest landscape "
                  f"here (Φ = {f_st.phi:.3f}, AT {at_st.phi:.3f}) but {100 * (at_st.autoattack - f_st.autoattack):.2f} "
                  "points less AutoAttack accuracy than AT. The paper ties Φ to robustness *within* a family (claim 4); "
                  "across families Φ says how flat log p̃ is, and a penalty on log p̃ itself can buy that without "
                  "the robustness."]
    verdicts = goal_verdicts(labels, {k: runs.stat(k) for k in shown}, cost)
    lines += ["", f"**The goal** — an adflat defense with AutoAttack accuracy within {GOAL_AA_POINTS:g} points of "
              f"PGD-10 AT's, clean accuracy ≥ {100 * GOAL_CLEAN:.0f}%, at no more than a third of AT's step cost:", ""]
    for v in verdicts:
        parts = [f"AutoAttack {'not evaluated' if v.gap is None else f'{abs(v.gap):.2f} points ' + ('below' if v.gap > 0 else 'above') + ' AT'}",
                 f"clean {pct(v.clean)}%",
                 f"step cost {'not measured' if v.cost_ratio is None else f'{v.cost_ratio:.2f} of AT' + chr(39) + 's'}"]
        flags = runs.stat(v.key).flags
        lines.append(f"- {v.label}: {', '.join(parts)} → **{'reached' if v.reached else 'not reached'}**"
                     + (f" (AutoAttack flags: {', '.join(flags)})" if flags else "") + ".")
    reached = [v for v in verdicts if v.reached]
    complete = len(verdicts) == len(ADFLAT) and all(v.gap is not None and v.cost_ratio is not None for v in verdicts)
    if reached:
        lines += ["", f"**Verdict: the goal is reached** by {', '.join(v.label for v in reached)}"
                  + (" — on the AutoAttack number, which a fired flag marks as a possible upper bound; "
                     "the stress test below attacks its robust images harder." if any(runs.stat(v.key).flags for v in reached) else ".")]
        lines += stress_lines(sources.stress, labels, [role_name(v.key) for v in reached])
    elif complete:
        lines += ["", "**Verdict: the goal is not reached** by any adflat variant on this budget."]
    else:
        lines += ["", "**Verdict: not decided yet**: every adflat variant needs its entry, its AutoAttack result "
                  "and a step-cost measurement."]
    lines += ["", "Strengths were chosen on a validation split (never the test set) by `scripts/select_strength.py`;"
              " its results (docs/selection/):", "", *selection_tables(sources.selection)]
    lines += selection_fallbacks(runs, sources.selection)
    if "fastat" in runs.beyond:
        early = runs.metas[role_name("fastat")].get("early_stop")
        lines += ["Fast AT's catastrophic-overfitting guard (PGD-10 on 512 held-out training images after every epoch): "
                  + (f"fired after epoch {early['epoch']}, weights of epoch {early['kept_epoch']} kept." if early
                     else "never fired."), ""]
    return lines
