"""Stored results are found by the identity they carry (kind, settings, images), never by their eval.json key."""

import json
from pathlib import Path

import pytest

from kerasll.evaluation.kinds import CertifySettings, CurveSettings, FlatnessSettings, SweepSettings
from kerasll.evaluation.settings import attack_settings
from kerasll.zoo import report
from kerasll.zoo.results import (
    ATTACK, CERTIFY, CURVE, FLATNESS, SWEEP, ResultId, best, curve_points, find, identified, matching,
)

ZOO = Path(__file__).resolve().parents[1] / "zoo"


def test_keys_are_built_from_the_identity():
    pgd = attack_settings("fashion_mnist")
    assert ResultId(pgd, 10000).key() == "pgd-linf-eps25/255-steps10-step6.25/255-r1-n10000"
    aa = attack_settings("fashion_mnist", "autoattack")
    assert ResultId(aa, 40, "-embedded").key() == "autoattack-standard-linf-eps25/255-n40-embedded"
    square = attack_settings(None, "square", eps=0.5, norm="l2", seed=2)
    assert ResultId(square, 9).key() == "square-l2-eps0.5-q5000-n9-seed2"
    curve = CurveSettings(attack_settings(None, "autoattack", eps=10 / 255, version="fast"), (0, 10 / 255))
    assert ResultId(curve, 30).key() == "curve-autoattack-fast-linf-eps0/255,10/255-n30"
    assert ResultId(SweepSettings(0.5, "l2"), 30).key() == "sweep-l2-eps0.5-n30"
    phi = FlatnessSettings(2, 5, 25 / 255, "mean", 1000, directions="fgsm")
    assert ResultId(phi, 1000).key() == "phifgsm-pairs2-grid5-radius25/255-mean-n1000"
    cert = CertifySettings(0.25, 100, 10000, 0.001, seed=1)
    assert ResultId(cert, 500, "-datadeadbeef").key() == \
        "certify-sigma0.25-n10000-select100-alpha0.001-n500-seed1-datadeadbeef"
    assert [ResultId(s, 1).kind for s in (pgd, curve, phi, cert)] == [ATTACK, CURVE, FLATNESS, CERTIFY]


def phi(directions):
    """A stored Φ's settings along `directions`."""
    return FlatnessSettings(2, 5, 25 / 255, "mean", 1000, directions=directions).to_dict()


@pytest.mark.parametrize("entry", sorted(p.name for p in ZOO.iterdir() if (p / "eval.json").is_file()))
def test_every_shipped_result_carries_the_identity_its_key_names(entry):
    results = json.loads((ZOO / entry / "eval.json").read_text())["results"]
    assert len(identified(results)) == len(results)
    for key, result in results.items():
        assert ResultId.of(result).key() == key
    for result in find(results, CURVE):
        assert list(curve_points(result)) == result["settings"]["eps"]


def result(kind, settings, samples, tag="", created="0", **fields):
    return {"kind": kind, "settings": settings, "samples": samples, "data_tag": tag, "created": created, **fields}


def test_find_matches_kind_images_and_settings_and_puts_the_most_images_first():
    stored = {
        "x": result(FLATNESS, phi("random"), 100, created="1"),
        "a name that says nothing": result(FLATNESS, phi("random"), 1000),
        "phi-looks-random-but-is-fgsm": result(FLATNESS, phi("fgsm"), 5000),
        "embedded": result(FLATNESS, phi("random"), 9000, "-embedded"),
        "no identity": {"settings": {"directions": "random"}, "samples": 10 ** 6},
    }
    assert find(stored, FLATNESS, "", directions="random") == [stored["a name that says nothing"], stored["x"]]
    assert best(stored, FLATNESS, "-embedded") is stored["embedded"]
    assert best(stored, CURVE) is None


def test_the_report_reads_images_from_the_data_tag_not_the_key():
    pgd = attack_settings("fashion_mnist")

    class Entry:
        def metadata(self):
            return {"dataset": "fashion_mnist"}

        def evaluations(self):
            return {
                "pgd-…-n10000": result(ATTACK, pgd.to_dict(), 10000, "-datacafe", clean_accuracy=0.1,
                                       robust_accuracy=0.0),
                "pgd-…-n40": result(ATTACK, pgd.to_dict(), 40, "", clean_accuracy=0.9, robust_accuracy=0.5),
                "phi": result(FLATNESS, phi("random"), 1000, "", phi=-1.5, phi_sum=-37.5),
            }

    s = report.summary(Entry())
    assert (s.clean, s.robust, s.samples, s.phi, s.images) == (0.9, 0.5, 40, -1.5, "test split")
    assert matching(Entry().evaluations(), pgd, "-datacafe")[0]["samples"] == 10000


def test_a_report_of_a_mixed_zoo_labels_each_number_with_its_own_images(tmp_path):
    """One entry evaluated on the embedded subset only, one on the test split (PGD and AutoAttack on 10,000
    images, Φ on 1,000) with adaptive checks on 200: each row says where its numbers come from, the page
    header guesses nothing, and a flag cell names the checks' own image count."""
    import shutil

    from kerasll.zoo.report_html import made_line
    from kerasll.zoo.store import Zoo

    pgd, aa = attack_settings("fashion_mnist"), attack_settings("fashion_mnist", "autoattack")
    checked = attack_settings("fashion_mnist", "autoattack", budget_check=True)
    zoo = Zoo(tmp_path / "zoo", bundled=False)
    for name in ("small", "full"):
        shutil.copytree(ZOO / "fmnist-lenet-amsreg", zoo.path / name, ignore=shutil.ignore_patterns("eval.json", "records"))
        meta = json.loads((zoo.path / name / "metadata.json").read_text()) | {"name": name}
        (zoo.path / name / "metadata.json").write_text(json.dumps(meta))
    stored = {"small": [result(ATTACK, pgd.to_dict(), 1000, "-embedded", clean_accuracy=0.86, robust_accuracy=0.36)],
              "full": [result(ATTACK, pgd.to_dict(), 10000, "", clean_accuracy=0.87, robust_accuracy=0.38),
                       result(ATTACK, aa.to_dict(), 10000, "", clean_accuracy=0.87, robust_accuracy=0.33, flags=[]),
                       result(ATTACK, checked.to_dict(), 200, "", clean_accuracy=0.9, robust_accuracy=0.4, flags=[],
                              adaptive={"budget_check": {"broken": 0, "robust_before": 80}}),
                       result(FLATNESS, phi("random"), 1000, "", phi=-0.43, phi_sum=-10.8)]}
    for name, results in stored.items():
        for r in results:
            zoo.get(name).write_evaluation(ResultId.of(r).key(), r)
    rows = {r["name"]: r for r in report.report_rows(zoo)}
    assert report.images_cell(rows["small"]) == "1,000 (embedded subset)"
    assert report.images_cell(rows["full"]) == "10,000; Φ\u00a01,000"
    assert report.flags_cell(rows["full"]) == "— (adaptive checks on 200 images: budget ×2 broke 0/80)"
    assert "embedded" not in made_line("fashion_mnist") and "10000" not in made_line("fashion_mnist")
