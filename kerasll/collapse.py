"""When training has collapsed: the rules shared by selection, the results and the fast-AT guard.

Two signs, defined once here:

- a **fall**: an accuracy more than `MAX_DROP` (20 points) below the best it reached
  earlier. `collapse_epoch` finds it in a training history; fast AT's
  `CatastrophicOverfittingGuard` applies it to held-out PGD accuracy after each epoch
  (Wong, Rice & Kolter 2020 break on a 0.2 drop).
- a **constant model**: accuracy at most `CHANCE_ACCURACY` (0.15, chance on ten
  classes plus a margin); its Φ is 0 and it is no point on a robustness trade-off.
"""

MAX_DROP = 0.2
CHANCE_ACCURACY = 0.15


def collapse_epoch(accuracy, max_drop=MAX_DROP):
    """The first (1-based) epoch whose accuracy is more than `max_drop` below an earlier best, else None."""
    best = -1.0
    for epoch, acc in enumerate(accuracy, 1):
        if acc is None:
            continue
        if acc < best - max_drop:
            return epoch
        best = max(best, acc)
    return None


def chance_epoch(accuracy, chance=CHANCE_ACCURACY):
    """The first (1-based) epoch whose accuracy is at chance (below `chance`), else None."""
    return next((i for i, a in enumerate(accuracy, 1) if a is not None and a < chance), None)


def is_constant_model(clean_accuracy, chance=CHANCE_ACCURACY):
    """True when a model's clean accuracy is at chance: training collapsed to a constant model."""
    return clean_accuracy is not None and clean_accuracy <= chance
