"""An attack is one typed value: its options are declared once (default, valid range, help), and the
registry, the functional API and the CLI's help read them from there."""

import pytest

import kerasll as kl
from kerasll.attacks.catalog import APGD, APGDT, FAB, FABT, PGD, Square
from kerasll.attacks.registry import get_attack, list_attacks


@pytest.mark.parametrize("name", list_attacks())
def test_a_registered_attack_takes_its_settings_from_the_declaration(name):
    spec = get_attack(name)
    declared = type(spec.attack).defaults()
    assert spec.defaults == {k: v for k, v in spec.attack.settings().items() if k not in spec.fixes}
    assert set(spec.defaults) | set(spec.fixes) == set(declared)  # every declared option is a setting or fixed
    assert spec.build(**spec.defaults) == spec.attack  # the defaults rebuild the registered value
    assert all(rule.help for rule in spec.rules.values())


@pytest.mark.parametrize("attack,options,message", [
    (APGD, {"steps": 0}, "steps must be ≥ 1, got 0"),
    (APGD, {"rho": 1.0}, r"rho must be in \(0, 1\), got 1.0"),
    (APGD, {"loss": "hinge"}, "unknown loss 'hinge'; valid choices: ce, dlr"),
    (FABT, {"eta": 11}, r"eta must be in \[1, 10\], got 11"),
    (Square, {"p_init": 0}, r"p_init must be in \(0, 1\], got 0"),
    (Square, {"variant": "wide"}, "unknown variant 'wide'; valid choices: reference, strong"),
    (FAB, {"target_classes": 3}, "FAB has no option 'target_classes'; its options: steps, restarts"),
])
def test_a_bad_option_is_one_line_naming_the_value_and_what_is_valid(attack, options, message):
    with pytest.raises(kl.KerasllError, match=message):
        attack.create(**options)


def test_a_registered_name_refuses_the_options_it_fixes():
    with pytest.raises(kl.KerasllError, match="attack 'apgd-dlr' has no setting 'loss'"):
        get_attack("apgd-dlr").build(loss="ce")


def test_the_cli_help_and_the_registry_show_the_declared_defaults(monkeypatch):
    from kerasll.cli.evaluate import queries_help, steps_help

    assert f"APGD and FAB {APGD.defaults()['steps']}" in steps_help()
    assert f"{PGD.defaults()['steps']}" in steps_help()
    assert f"default {Square.defaults()['queries']}" in queries_help()
    assert "5,000 queries" in get_attack("square").description  # written from Square's default
    monkeypatch.setattr(APGD.__dataclass_fields__["steps"], "default", 7)  # the one place the default lives
    assert APGD.defaults()["steps"] == 7 and "APGD and FAB 7" in steps_help()


def test_the_targeted_attacks_cap_their_default_at_the_models_wrong_classes_and_refuse_more():
    assert APGDT().target_classes is None and FABT().target_classes is None  # None: AutoAttack's 9, capped
    with pytest.raises(kl.KerasllError, match="target_classes must be ≥ 1"):
        APGDT(target_classes=0)
