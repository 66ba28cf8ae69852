"""Evaluations in chunks: the same numbers per image however they are split, resumed or curved."""

import numpy as np
import pytest

import kerasll as kl
from kerasll.evaluation import attack_settings, eps_curve, evaluate
from kerasll.evaluation.chunks import ChunkStore, Context, run_chunks
from helpers import linear_images


@pytest.fixture(scope="module")
def data(fmnist):
    return fmnist[2][:90], fmnist[3][:90]


@pytest.mark.pipeline
def test_chunked_autoattack_equals_the_whole_per_image(trained_lenet, data):
    x, y = data
    settings = attack_settings("fashion_mnist", "autoattack", eps=8 / 255, version="fast")
    chunked = evaluate(trained_lenet, x, y, settings, context=Context(batch_size=40))  # chunks of 40, 40, 10
    whole = kl.autoattack(trained_lenet, x, y, 8 / 255, version="fast")
    assert np.array_equal(chunked.records["robust"], whole.robust)
    assert chunked.robust_accuracy == whole.robust_accuracy and chunked.by_attack == whole.by_attack
    assert [f.code for f in chunked.flags] == [f.code for f in whole.flags]
    assert chunked.weaker_attacks_accuracy == whole.weaker_attacks_accuracy


def test_single_attack_chunks_agree_and_pgd_is_keyed_by_image(trained_lenet, data):
    x, y = data
    settings = attack_settings("fashion_mnist", "pgd", seed=3)
    a = evaluate(trained_lenet, x, y, settings, context=Context(batch_size=90))
    b = evaluate(trained_lenet, x, y, settings, context=Context(batch_size=25))
    assert np.array_equal(a.records["robust"], b.records["robust"])
    assert np.array_equal(a.records["noise"], b.records["noise"])
    # The first 25 images evaluated alone get the same random starts as inside the whole set.
    head = evaluate(trained_lenet, x[:25], y[:25], settings, context=Context(batch_size=25))
    assert np.array_equal(head.records["robust"], a.records["robust"][:25])


class Interrupt(Exception):
    pass


def stop_after(chunks):
    """A `log` callback that interrupts an evaluation, as Ctrl-C would, right after its `chunks`-th chunk is saved."""
    lines = []

    def log(line):
        lines.append(line)
        if sum("saved" in line for line in lines) == chunks:
            raise Interrupt
    return log


def test_an_interrupted_evaluation_resumes_at_its_first_unfinished_chunk(trained_lenet, data, tmp_path):
    x, y = data
    settings = attack_settings("fashion_mnist", "apgd-ce", eps=8 / 255, steps=10)
    with pytest.raises(Interrupt):
        evaluate(trained_lenet, x, y, settings, checkpoint=tmp_path, context=Context(batch_size=20, log=stop_after(2)))
    seen = []
    resumed = evaluate(trained_lenet, x, y, settings, checkpoint=tmp_path, context=Context(
        batch_size=20, log=seen.append, progress=lambda name, done, total, acc: seen.append(name)))
    reused = [line for line in seen if isinstance(line, str) and "reused" in line]
    assert len(reused) == 2 and seen.index(reused[-1]) < seen.index("apgd-ce")  # chunks 1-2 read back, not run
    fresh = evaluate(trained_lenet, x, y, settings, context=Context(batch_size=20))
    assert np.array_equal(resumed.records["robust"], fresh.records["robust"])
    assert resumed.to_dict() | {"seconds": 0, "seconds_by_attack": {}} == \
        fresh.to_dict() | {"seconds": 0, "seconds_by_attack": {}}
    # Another setting, or another model, finds none of these chunks.
    other = attack_settings("fashion_mnist", "apgd-ce", eps=8 / 255, steps=10, seed=1)
    log = []
    evaluate(trained_lenet, x[:20], y[:20], other, checkpoint=tmp_path, context=Context(batch_size=20, log=log.append))
    assert log and not any("reused" in line for line in log)
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 2 and all((p / "records.npz").is_file() for p in folders)


def test_chunks_of_another_attack_revision_are_not_resumed(trained_lenet, data, tmp_path, monkeypatch):
    from kerasll.evaluation import chunks, core

    x, y = data[0][:20], data[1][:20]
    settings = attack_settings("fashion_mnist", "apgd-ce", eps=8 / 255, steps=5)
    evaluate(trained_lenet, x, y, settings, checkpoint=tmp_path, context=Context(batch_size=10))
    ran, run_attack = [], core.run_attack
    monkeypatch.setattr(core, "run_attack", lambda name, *a, **k: ran.append(name) or run_attack(name, *a, **k))
    evaluate(trained_lenet, x, y, settings, checkpoint=tmp_path, context=Context(batch_size=10))
    assert ran == []  # the same revision: the finished evaluation is read back, no attack runs
    for module in (chunks, core):  # an attack changed since: the chunks' fingerprint and the result's stamp
        monkeypatch.setattr(module, "ATTACKS_REVISION", core.ATTACKS_REVISION + 1)
    log = []
    new = evaluate(trained_lenet, x, y, settings, checkpoint=tmp_path, context=Context(batch_size=10, log=log.append))
    assert log and not any("reused" in line for line in log) and ran == ["apgd-ce", "apgd-ce"]  # both chunks
    assert new.to_dict()["attacks_revision"] == core.ATTACKS_REVISION  # the changed code's, stored with the result


def test_a_run_resumed_with_another_batch_size_keeps_its_finished_chunks(trained_lenet, data, tmp_path, monkeypatch):
    """Interrupted after two chunks of 20 images, resumed with --batch-size 15: the 40 finished images are read
    back, only the other 50 are attacked (in chunks of 15), and the records are the uninterrupted run's."""
    import kerasll.evaluation.core as core

    x, y = data
    settings = attack_settings("fashion_mnist", "apgd-ce", eps=8 / 255, steps=10)
    with pytest.raises(Interrupt):
        evaluate(trained_lenet, x, y, settings, checkpoint=tmp_path, context=Context(batch_size=20, log=stop_after(2)))
    attacked, run_attack = [], core.run_attack
    monkeypatch.setattr(core, "run_attack", lambda name, m, xs, *a, **k: attacked.append(len(xs)) or run_attack(
        name, m, xs, *a, **k))
    resumed = evaluate(trained_lenet, x, y, settings, checkpoint=tmp_path, context=Context(batch_size=15))
    assert sum(attacked) <= 50 and len(attacked) == 4  # images 40–89 in chunks of 15, 15, 15, 5 (robust ones)
    fresh = evaluate(trained_lenet, x, y, settings, context=Context(batch_size=30))
    assert np.array_equal(resumed.records["robust"], fresh.records["robust"])
    assert resumed.robust_accuracy == fresh.robust_accuracy


def test_a_chunk_file_is_whole_or_absent(tmp_path):
    store = ChunkStore(tmp_path, "ab" * 32, {"what": "test"}).open()
    calls = []

    def compute(a, b, stages):
        calls.append(a)
        if a == 4:
            raise Interrupt
        return {"v": np.arange(a, b)}, {"t": 1.0}

    with pytest.raises(Interrupt):
        run_chunks(compute, 10, 2, store)
    assert store.finished() == [(0, 2), (2, 4)] and not list(store.folder.glob(".*.tmp"))
    records, seconds = run_chunks(lambda a, b, stages: ({"v": np.arange(a, b)}, {"t": 1.0}), 10, 2, store)
    assert np.array_equal(records["v"], np.arange(10)) and seconds == {"t": 5.0}
    assert store.finished() == [] and store.complete() is not None  # merged into records.npz


def test_ctrl_c_inside_a_chunk_keeps_its_finished_stages_and_says_so(tmp_path):
    """One chunk (the whole set), two stages: Ctrl-C in the second keeps the first, which is not run again."""
    from kerasll.errors import Interrupted

    store = ChunkStore(tmp_path, "cd" * 32).open()
    runs = []

    def compute(a, b, stages, stop=False):
        def stage(name, value):
            runs.append(name)
            if stop and name == "second":
                raise KeyboardInterrupt
            return {"v": np.full(b - a, value)}
        first, t1 = stages("first", lambda: stage("first", 1.0))
        second, t2 = stages("second", lambda: stage("second", 2.0))
        return {"v": first["v"] + second["v"]}, {"first": t1, "second": t2}

    with pytest.raises(Interrupted, match=r"kept 0 of 1 batch\(es\) finished and batch 1's finished stages \(first\)"):
        run_chunks(lambda a, b, stages: compute(a, b, stages, stop=True), 6, 1000, store)
    assert runs == ["first", "second"]
    records, _ = run_chunks(compute, 6, 1000, store)
    assert runs == ["first", "second", "second"] and np.array_equal(records["v"], np.full(6, 3.0))
    assert not list(store.folder.glob("stages-*")) and store.complete() is not None
    with pytest.raises(Interrupted, match="nothing was kept"):
        run_chunks(lambda a, b, stages: compute(a, b, stages, stop=True), 6, 1000, None)


def interrupted_then_resumed(model, x, y, settings, stop_at, path):
    """Run `autoattack_images` with kept stages, Ctrl-C as stage `stop_at` starts, then again: (the stages the
    first run started, the stages the second run computed, its (images, records), the uninterrupted ones)."""
    from kerasll.evaluation.chunks import Stages
    from kerasll.evaluation.core import autoattack_images

    ran, stop = [], [True]

    class Stopping(Stages):
        def __call__(self, name, fn, report=True):
            def run():
                ran.append(str(name))
                if str(name) == stop_at and stop[0]:
                    raise KeyboardInterrupt
                return fn()
            return super().__call__(name, run, report)

    with pytest.raises(KeyboardInterrupt):
        autoattack_images(model, x, y, settings, stage=Stopping(path))
    first = list(ran)
    stop[0], ran[:] = False, []
    adv, resumed, _ = autoattack_images(model, x, y, settings, stage=Stopping(path))
    whole_adv, whole, _ = autoattack_images(model, x, y, settings)
    return first, ran, (adv, resumed), (whole_adv, whole)


@pytest.mark.pipeline
def test_an_interrupted_apgd_t_resumes_at_its_first_unfinished_target(trained_lenet, fmnist, tmp_path):
    """APGD's restarts and targets are stages: Ctrl-C during APGD-T's third target keeps APGD-CE and the first
    two targets, and the resumed run gives the uninterrupted records."""
    settings = attack_settings(None, "autoattack", eps=25 / 255, version="fast", seed=1)
    first, second, (_, resumed), (_, whole) = interrupted_then_resumed(
        trained_lenet, fmnist[2][:40], fmnist[3][:40], settings, "apgd-t run 3/9", tmp_path / "stages.npz")
    assert first[-1] == "apgd-t run 3/9" and "apgd-t run 2/9" in first
    assert second[0] == "apgd-t" and second[1] == "apgd-t run 3/9"  # APGD-CE and targets 1–2 were read back
    assert all(np.array_equal(resumed[k], whole[k]) for k in whole)


@pytest.mark.pipeline
def test_an_interrupted_square_resumes_at_its_first_unfinished_segment_of_queries(trained_lenet, fmnist, tmp_path):
    """Square's queries run in segments that are stages: Ctrl-C in the third segment keeps the first two, and
    the resumed run gives the uninterrupted records and images."""
    settings = attack_settings(None, "square", eps=8 / 255, queries=3000, seed=1)
    first, second, (adv, resumed), (whole_adv, whole) = interrupted_then_resumed(
        trained_lenet, fmnist[2][:40], fmnist[3][:40], settings, "square queries 2001-2999", tmp_path / "s.npz")
    assert first == ["square", "square queries 1-1000", "square queries 1001-2000", "square queries 2001-2999"]
    assert second == ["square", "square queries 2001-2999"]  # the first two segments were read back
    assert set(resumed) == set(whole) and all(np.array_equal(resumed[k], whole[k]) for k in whole)
    assert np.array_equal(adv, whole_adv)


def test_eps_curve_matches_a_linear_models_exact_robust_radius():
    model, x, y, radius = linear_images()
    budgets = [0.0, 0.01, 0.03, 0.06, 0.1]  # x ± 0.1 stays inside [0, 1]: the box never binds
    settings = attack_settings(None, "autoattack", eps=0.1, version="fast")
    curve = eps_curve(model, x, y, settings, budgets, context=Context(batch_size=50))
    exact = {e: float(np.mean(radius > e)) for e in budgets}
    assert curve.accuracy_by_eps[0.0] == float(np.mean(np.isfinite(radius)))  # ε = 0: clean accuracy
    for e in budgets:  # an image within 1e-4 of its radius may go either way
        near = np.abs(radius - e) < 1e-4
        assert abs(curve.accuracy_by_eps[e] - exact[e]) <= near.mean() + 1e-9, (e, curve.accuracy_by_eps, exact)
    values = [curve.accuracy_by_eps[e] for e in budgets]
    assert values == sorted(values, reverse=True) and [f.code for f in curve.flags] == ["eps-unbounded"]  # ends at 41.7% > 1/5


def test_eps_curve_never_rises_and_flags_an_attack_that_made_it_rise(trained_lenet, data, monkeypatch):
    import kerasll.evaluation.core as driver

    x, y = data[0][:30], data[1][:30]
    run = driver.run_attack

    def weaker_at_large_eps(name, model, xs, ys, eps, *a, **k):  # a broken attack: does nothing at ε > 0.05
        return xs if eps > 0.05 else run(name, model, xs, ys, eps, *a, **k)

    monkeypatch.setattr(driver, "run_attack", weaker_at_large_eps)
    settings = attack_settings("fashion_mnist", "apgd-ce", eps=0.1, steps=10)
    curve = eps_curve(trained_lenet, x, y, settings, [0, 0.05, 0.1])
    assert curve.accuracy_by_eps[0.1] <= curve.accuracy_by_eps[0.05]
    assert [f.code for f in curve.flags] == ["eps-sweep", "eps-unbounded"] and "rises" in curve.flags[0].message


def test_settings_without_a_preset_need_eps():
    with pytest.raises(kl.KerasllError, match="--eps is required"):
        attack_settings(None, "pgd")
    assert attack_settings(None, "pgd", eps=0.1).step_size == pytest.approx(0.025)


def test_ctrl_c_inside_a_c_extension_call_is_still_an_interruption(tmp_path):
    """Ctrl-C during a TensorFlow or NumPy call surfaces as SystemError('… returned a result with an exception
    set') caused by the KeyboardInterrupt: it is reported as an interruption, not a crash; other SystemErrors
    are not."""
    from kerasll.errors import Interrupted

    def interrupted_in_c(a, b, stages):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as cause:
            raise SystemError("<built-in method __array__> returned a result with an exception set") from cause

    store = ChunkStore(tmp_path, "ef" * 32).open()
    with pytest.raises(Interrupted, match="kept 0 of 1 batch"):
        run_chunks(interrupted_in_c, 4, 10, store)

    def broken(a, b, stages):
        raise SystemError("a real bug")

    with pytest.raises(SystemError, match="a real bug"):
        run_chunks(broken, 4, 10, store)


def test_an_interrupted_c_call_whose_cause_was_dropped_counts_as_ctrl_c_once_sigint_was_seen(monkeypatch):
    """TensorFlow's error handler re-raises `from None`, dropping the KeyboardInterrupt behind the SystemError;
    the CLI's SIGINT handler (`watch_ctrl_c`) remembers the signal instead."""
    from kerasll import errors

    bare = SystemError("<built-in method __array__> returned a result with an exception set")
    assert not errors.is_ctrl_c(bare)
    monkeypatch.setitem(errors._CTRL_C, "seen", True)
    assert errors.is_ctrl_c(bare) and not errors.is_ctrl_c(SystemError("a real bug"))
