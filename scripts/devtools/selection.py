"""Choosing a defense's strength on a validation split (scripts/select_strength.py wires it)."""


def choose(rows, min_clean):
    """The candidate with the highest validation APGD-CE among the stable ones reaching `min_clean`, else None.

    Each row is {"strength", "clean", "apgd_ce", "collapse_epoch"}; a candidate whose training
    collapsed (`kerasll.collapse.collapse_epoch` not None) is never chosen.
    """
    eligible = [r for r in rows if r["clean"] >= min_clean and r["collapse_epoch"] is None]
    return max(eligible, key=lambda r: r["apgd_ce"], default=None)
