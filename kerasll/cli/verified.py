"""The verified end of an L∞ number on the command line: shared by `kerasll verify` and `kerasll eval --verify`."""

from kerasll.cli.common import console


def _eps(eps):
    """25/255 where ε is a whole number of grey levels, else the number: '25/255', '0.1'."""
    levels = eps * 255
    return f"{round(levels)}/255" if abs(levels - round(levels)) < 1e-6 else f"{eps:g}"


def rows_of(results, intervals):
    """The results per ε as `--json` writes them, each with its interval beside AutoAttack where there is one."""
    keep = ("method", "eps", "images", "clean_accuracy", "verified_accuracy", "attackable", "timed_out",
            "exact_accuracy", "seconds", "cached", "key")
    rows = []
    for eps, r in results.items():
        row = {k: r[k] for k in keep if k in r}
        if intervals[eps] is not None:
            row["autoattack"] = vars(intervals[eps]) | {"gap": intervals[eps].gap}
        rows.append(row)
    return rows


def show_verification(method, results, intervals):
    """Per ε: the verified accuracy, for milp the attackable and timed-out counts, and the interval
    "verified ≤ truth ≤ AutoAttack" on the same images (with what AutoAttack missed) where the entry has it."""
    for eps, r in results.items():
        cached = " (cached)" if r.get("cached") else ""
        console.print(f"ε = {_eps(eps)}: verified accuracy [bold]{100 * r['verified_accuracy']:.2f}%[/] "
                      f"({method}, {r['images']} images; clean {100 * r['clean_accuracy']:.2f}%){cached}")
        if method == "milp":
            exact = "exact" if r.get("exact_accuracy") is not None else f"{r['timed_out']} timed out: not exact"
            console.print(f"  attackable {r['attackable']}, timed out {r['timed_out']} ({exact})")
        found = intervals[eps]
        if found is not None:
            console.print(f"  {100 * found.verified:.2f}% ≤ true robust accuracy ≤ {100 * found.autoattack:.2f}% "
                          f"AutoAttack standard (gap {100 * found.gap:.2f} points, same {found.images} images)")
            if found.missed is not None:
                stages = ", ".join(f"{k} {v}" for k, v in found.missed_by.items())
                console.print(f"  AutoAttack missed {found.missed} attackable image(s) (left robust by each stage: "
                              f"{stages})")
            if found.unsound:
                console.print(f"  [red]{found.unsound} verified image(s) broken by AutoAttack: a bug, please report[/]")
