"""The AutoAttack sections of the docs: per-stage robust accuracy, flags and timings of each entry.

Data in (`AutoAttackRow`: an entry's label, name, stored AutoAttack result and `Summary`), Markdown out.
"""

from dataclasses import dataclass

from kerasll.attacks.checks import SQUARE_ALPHA, SQUARE_SHARE, TOLERANCE
from devtools.parity import PARITY_MARGIN, StageComparison, at_parity, parity_gaps
from kerasll.stats import sign_test

STAGES = {"apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "fab-t": "FAB-T", "square": "Square"}
TARGET_MINUTES = 10  # the evaluation issue's target for one LeNet on this CPU


@dataclass(frozen=True)
class AutoAttackRow:
    """One entry's AutoAttack standard result (`result`: as stored in eval.json) beside its `Summary`."""

    label: str
    name: str
    result: dict
    summary: object

    @property
    def pgd_drop(self):
        """PGD-10 accuracy − AutoAttack accuracy in points (None without a PGD result)."""
        s = self.summary
        return None if s.robust is None else 100 * (s.robust - self.result["robust_accuracy"])

    @property
    def square_counts(self):
        """(images robust before Square, images Square broke), from the stored accuracies."""
        n, by = self.result.get("samples", 0), self.result["by_attack"]
        return round(by["fab-t"] * n), round((by["fab-t"] - by["square"]) * n)

    @property
    def minutes(self):
        return self.result.get("seconds_by_attack", {}).get("total", 0) / 60


def results_section(rows, command):
    """docs/results.md's AutoAttack block; `command` produced it."""
    lines = ["## AutoAttack: the shipped LeNets under the field's standard evaluation", "",
             "AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square; 100 iterations, 9 target classes, 5,000 "
             f"queries), L∞ ε = 25/255, all 10,000 test images, seed 0. Produced by `{command}`, which stores each "
             "result in the entry's eval.json (`kerasll eval NAME --attack autoattack` gives the same number).", "",
             "| defense | clean % | PGD-10 % | AutoAttack % | PGD-10 − AA (points) | after APGD-CE | after APGD-T | "
             "after FAB-T | after Square | flags |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, s, drop = r.result, r.summary, r.pgd_drop
        lines.append(f"| {r.label} | {100 * a['clean_accuracy']:.2f} | "
                     f"{'—' if s.robust is None else f'{100 * s.robust:.2f}'} | {100 * a['robust_accuracy']:.2f} | "
                     f"{'—' if drop is None else f'{drop:.2f}'} | "
                     + " | ".join(f"{100 * a['by_attack'][k]:.2f}" for k in STAGES)
                     + f" | {', '.join(f['code'] for f in a['flags']) or 'none'} |")
    known = {r.label: r.pgd_drop for r in rows if r.pgd_drop is not None}
    if known:
        order = sorted(known, key=known.get, reverse=True)
        lines.append(f"**Who loses most between PGD-10 and AutoAttack:** {order[0]} ({known[order[0]]:.2f} points), "
                     "then " + ", ".join(f"{k} ({known[k]:.2f})" for k in order[1:]) + ".")
    lines.append("**Square after the white-box attacks:** of the images APGD-CE, APGD-T and FAB-T left robust, "
                 "it broke " + ", ".join(f"{broken} of {before:,} on {r.label}" for r in rows
                                         for before, broken in [r.square_counts]) +
                 f" (the `square` flag needs a share significantly above {100 * SQUARE_SHARE:g}%, binomial "
                 f"p < {SQUARE_ALPHA:g}).")
    lines.append("**Weaker attacks on all images** (for the `order` check): " + "; ".join(
        f"{r.label}: FGSM {100 * w.get('fgsm', float('nan')):.2f}%, PGD-10 {100 * w.get('pgd', float('nan')):.2f}%"
        for r in rows for w in [r.result.get("weaker_attacks_accuracy", r.result.get("weaker_attacks_acc", {}))]) + ".")
    fired = [(r.label, f) for r in rows for f in r.result["flags"]]
    lines.append("**Flags that fired:** " + "; ".join(f"{d}: {f['code']} — {f['message']}" for d, f in fired) + "."
                 if fired else "**Flags:** none fired on any model.")
    return [part for line in lines for part in (["", line] if line.startswith("**") else [line])]


def timing_section(rows, command):
    """docs/benchmarks.md's AutoAttack block: seconds per stage and the target's verdict."""
    lines = ["## AutoAttack standard on 10,000 Fashion-MNIST test images (2-core CPU)", "",
             f"`{command}` (wall-clock per attack, seconds; each attack runs only on the "
             "images still robust; the checks run FGSM, PGD-10 and random noise on all images):", "",
             "| entry | APGD-CE | APGD-T | FAB-T | Square | checks | total |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        sec = r.result.get("seconds_by_attack", {})
        lines.append(f"| {r.name} | " + " | ".join(f"{sec.get(k, 0):.0f}" for k in [*STAGES, "checks", "total"]) + " |")

    def listed(names):
        return ", ".join(f"{r.name} ({r.minutes:.1f} min)" for r in names) or "none"

    return lines + ["", f"Target: at most {TARGET_MINUTES} minutes for one LeNet on this CPU. "
                    f"**Met for {listed([r for r in rows if r.minutes <= TARGET_MINUTES])}; "
                    f"not met for {listed([r for r in rows if r.minutes > TARGET_MINUTES])}.**"]


def time_sentence(rows, command, machine=None):
    """README's one sentence on how long AutoAttack takes per shipped LeNet, on which machine
    (`devtools.machine.describe()` unless given)."""
    from devtools.machine import describe

    fastest, slowest = min(rows, key=lambda r: r.minutes), max(rows, key=lambda r: r.minutes)
    return (f"AutoAttack standard on all 10,000 Fashion-MNIST test images takes {fastest.minutes:.1f} min "
            f"({fastest.name}) to {slowest.minutes:.1f} min ({slowest.name}) per shipped LeNet on "
            f"{machine or describe()} (`{command}`); docs/benchmarks.md shows where the time goes.")


def reference_section(runs, command, norm="linf"):
    """docs/evaluation.md's comparison with the reference AutoAttack, from benchmark_reference.py's JSON
    ({key: run}): per entry, the mean robust % after each stage over the seeds, the images only one side
    broke (summed over seeds, at the last stage), the port check and the wall-clock."""
    entries = {}
    for run in runs.values():
        entries.setdefault(run["entry"], []).append(run)
    from kerasll.datasets.registry import dataset_info

    eps = dataset_info("fashion_mnist").preset_eps(norm)
    budget = {"linf": "L∞ ε = 25/255", "l1": f"L1 ε = {eps:g} (the reference's L1 settings: APGD-CE ×5 restarts and "
              "APGD-T ×5 targets with large reps, FAB-T, Square)"}[norm]
    lines = [f"`{command} --json docs/data/reference-autoattack.json --docs`: AutoAttack standard, {budget}, "
             "the first test images, the same seeds on both sides; robust accuracy (%) after each stage, mean over "
             "the seeds.", "",
             "| entry | images × seeds | reference: " + " / ".join(STAGES.values()) + " | kerasll: "
             + " / ".join(STAGES.values()) + " | broken only by kerasll / only by the reference | "
             "Square broke, ref / kerasll | AutoAttack seconds ref / kerasll | port: max Δlogit | "
             "largest stage gap (points) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, rs in entries.items():
        mean = {side: [sum(100 * st[side] / st["n"] for r in rs for st in r["stages"] if st["stage"] == s) / len(rs)
                       for s in STAGES] for side in ("theirs", "ours")}
        last = [next(st for st in r["stages"] if st["stage"] == "square") for r in rs]
        # AutoAttack's own time on each side: the sum of its stages (the reference's child process also
        # imports torch and checks the port, which is not AutoAttack's time)
        secs = {side: sum(sum(r["seconds_by_stage"][side].values()) for r in rs) / len(rs) for side in ("theirs", "ours")}
        lines.append(f"| {name} | {rs[0]['images']:,} × {len(rs)} | " + " / ".join(f"{v:.2f}" for v in mean["theirs"])
                     + " | " + " / ".join(f"{v:.2f}" for v in mean["ours"])
                     + f" | {sum(st['only_ours'] for st in last)} / {sum(st['only_theirs'] for st in last)} | "
                     f"{square_broke(rs, 'theirs')} / {square_broke(rs, 'ours')} | "
                     f"{secs['theirs']:.0f} / {secs['ours']:.0f} | "
                     f"{max(r['port']['logits_max_diff'] for r in rs):.1e} | {gap_cell(rs)} |")
    return lines + ["", *parity_table(entries)]


def parity_table(entries):
    """Per entry and stage, kerasll's robust accuracy minus the reference's in points: the mean over the
    seeds and, in brackets, the seeds' lowest and highest; the images only one side broke at the end, with
    the sign test's p (`kerasll.stats.sign_test`); then how many entries keep the margin."""
    lines = [f"kerasll − reference, points (positive: kerasll weaker); mean over the seeds [lowest, highest seed]. "
             f"Parity: every stage's mean at most +{PARITY_MARGIN:g}. The sign test treats each image and seed that "
             "only one side broke as a coin toss between the sides: a small p would mean a real difference in "
             "strength, not seed noise.", "",
             "| entry | " + " | ".join(STAGES.values()) + " | at parity | final: broken only by kerasll / only by "
             "the reference, sign test p |", "|---|" + "---|" * (len(STAGES) + 2)]
    kept, pooled = 0, [0, 0]
    for name, rs in entries.items():
        seeds = [[StageComparison(**st) for st in r["stages"]] for r in rs]
        gaps = parity_gaps(seeds)
        cells = []
        for stage in STAGES:
            each = [100 * (c.ours - c.theirs) / c.n for run in seeds for c in run if c.stage == stage]
            cells.append(f"{gaps[stage]:+.2f} [{min(each):+.1f}, {max(each):+.1f}]")
        kept += at_parity(gaps)
        final = [c for run in seeds for c in run if c.stage == "square"]
        ours, theirs = sum(c.only_ours for c in final), sum(c.only_theirs for c in final)
        pooled = [pooled[0] + ours, pooled[1] + theirs]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'yes' if at_parity(gaps) else '**no**'} | "
                     f"{ours} / {theirs}, p = {sign_test(ours, theirs):.2f} |")
    return lines + ["", f"Pooled over the entries: {pooled[0]} / {pooled[1]}, sign test p = {sign_test(*pooled):.2f}.",
                    "", f"{kept} of {len(entries)} entries at parity."]


def square_broke(runs, side):
    """Images one side's Square broke after its white-box stages (FAB-T's robust minus Square's), summed
    over the seeds."""
    robust = lambda stage: sum(st[side] for r in runs for st in r["stages"] if st["stage"] == stage)  # noqa: E731
    return robust("fab-t") - robust("square")


def gap_cell(runs):
    """The largest per-stage gap, kerasll's mean robust accuracy minus the reference's (`parity_gaps`),
    with its stage, marked when it breaks the `PARITY_MARGIN`."""
    gaps = parity_gaps([[StageComparison(**st) for st in r["stages"]] for r in runs])
    stage = max(gaps, key=gaps.get)
    text = f"{gaps[stage]:+.2f} ({STAGES[stage]})"
    return text if at_parity(gaps) else f"**{text}**"


def square_flag_section(runs, command):
    """docs/evaluation.md's calibration table of the `square` flag, from calibrate_square_flag.py's JSON."""
    rows = sorted(runs.values(), key=lambda r: (r["kind"], r["model"]))
    lines = [f"`{command} --json docs/data/square-flag.json --docs`: AutoAttack standard, L∞ ε = 25/255, the first "
             f"{rows[0]['images']:,} test images, seed {rows[0]['seed']}. The flag fires when a one-sided binomial "
             f"test puts Square's share of the images still robust before it above {100 * SQUARE_SHARE:g}% "
             f"(p < {SQUARE_ALPHA:g}); the old rule fired above {100 * TOLERANCE:g}% of all images.", "",
             "| model | kind | clean % | AutoAttack % | robust before Square | Square broke | share % | binomial p | "
             "`square` | old rule | every flag that fired |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = 100 * r["square_broke"] / r["robust_before_square"] if r["robust_before_square"] else 0.0
        old = r["square_broke"] > TOLERANCE * r["images"]
        lines.append(f"| {r['model']} | {r['kind']} | {100 * r['clean']:.1f} | {100 * r['robust']:.1f} | "
                     f"{r['robust_before_square']} | {r['square_broke']} | {share:.1f} | {r['p_value']:.1e} | "
                     f"{'**fires**' if r['fires'] else 'quiet'} | {'fires' if old else 'quiet'} | "
                     f"{', '.join(r['flags']) or 'none'} |")
    hits = [r for r in rows if r["kind"] == "masked"]
    clean = [r for r in rows if r["kind"] == "clean"]
    lines += ["", f"Hits: {sum(r['fires'] for r in hits)} of {len(hits)} masked models. False alarms: "
              f"{sum(r['fires'] for r in clean)} of {len(clean)} shipped models. Any flag at all: "
              f"{sum(bool(r['flags']) for r in hits)} of {len(hits)} masked, "
              f"{sum(bool(r['flags']) for r in clean)} of {len(clean)} shipped."]
    return lines


def adaptive_flags_section(runs, command):
    """docs/evaluation.md's calibration table of the `budget` and `transfer` flags, from
    calibrate_adaptive_flags.py's JSON."""
    from kerasll.attacks.checks import ADAPTIVE_ALPHA, BUDGET_SHARE, TRANSFER_SHARE

    rows = sorted(runs.values(), key=lambda r: (r["kind"], r["model"]))
    lines = [f"`{command} --json docs/data/adaptive-flags.json --docs`: AutoAttack fast, L∞ ε = 25/255, the first "
             f"{rows[0]['images']:,} test images, seed {rows[0]['seed']}, with `--check-budget` and `--transfer-from`. "
             f"A flag fires when a one-sided binomial test puts the share it broke of the images still robust before "
             f"it above {100 * BUDGET_SHARE:g}% (budget) or {100 * TRANSFER_SHARE:g}% (transfer), p < {ADAPTIVE_ALPHA:g}.",
             "", "| model | kind | surrogate | clean % | robust % | budget ×2 broke | p | `budget` | transfer broke | p | "
             "`transfer` | every flag that fired |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, t = r["budget_check"], r["transfer"]
        lines.append(f"| {r['model']} | {r['kind']} | {r['surrogate']} | {100 * r['clean']:.1f} | {100 * r['robust']:.1f} | "
                     f"{b['broken']}/{b['robust_before']} | {b['p_value']:.1e} | "
                     f"{'**fires**' if 'budget' in r['flags'] else 'quiet'} | {t['broken']}/{t['robust_before']} | "
                     f"{t['p_value']:.1e} | {'**fires**' if 'transfer' in r['flags'] else 'quiet'} | "
                     f"{', '.join(r['flags']) or 'none'} |")
    hits = [r for r in rows if r["kind"] == "masked"]
    clean = [r for r in rows if r["kind"] == "clean"]
    for code in ("budget", "transfer"):
        lines += ["", f"`{code}`: fires on {sum(code in r['flags'] for r in hits)} of {len(hits)} masked models and "
                      f"{sum(code in r['flags'] for r in clean)} of {len(clean)} shipped models."]
    return lines
