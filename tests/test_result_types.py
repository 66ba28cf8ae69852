"""Stored results round-trip through their types: every result shipped in zoo/ reads back as its typed
settings, writes the same fields, and is found under the same eval.json key."""

import json
from pathlib import Path

import pytest

from kerasll.zoo.results import KINDS, ResultId

ZOO = Path(__file__).resolve().parents[1] / "zoo"
STORED = [(path.parent.name, key, result) for path in sorted(ZOO.glob("*/eval.json"))
          for key, result in json.loads(path.read_text())["results"].items()]


def test_every_kind_is_shipped():
    assert {r["kind"] for _, _, r in STORED} >= {"attack", "curve", "flatness", "certify"}
    assert set(KINDS) >= {r["kind"] for _, _, r in STORED}


@pytest.mark.parametrize("entry,key,result", STORED, ids=[f"{e}:{k}" for e, k, _ in STORED])
def test_a_stored_result_round_trips_through_its_type(entry, key, result):
    rid = ResultId.of(result)
    assert type(rid.settings) is not dict  # typed, not a dict of the stored fields
    assert rid.kind == result["kind"]
    assert rid.key() == key
    assert rid.fields() == {k: result.get(k, "") for k in ("kind", "settings", "samples", "data_tag")}
    assert ResultId.of(rid.fields() | {}).key() == key


def test_a_result_of_another_backend_has_its_own_key_and_tensorflows_keys_are_unchanged():
    """Results are reused only on the backend that computed them (docs/backends.md): another backend's carry it
    in their identity and key, TensorFlow's (every result stored before the port) keep theirs."""
    from kerasll.evaluation import attack_settings

    settings = attack_settings("fashion_mnist", "autoattack")
    ours, theirs = ResultId(settings, 500, "-embedded", "tensorflow"), ResultId(settings, 500, "-embedded", "jax")
    assert ours.key() == "autoattack-standard-linf-eps25/255-n500-embedded"
    assert theirs.key() == ours.key() + "-on-jax" and "backend" not in ours.fields()
    assert ResultId.of(theirs.fields()) == theirs and ResultId.of(ours.fields()) == ours
