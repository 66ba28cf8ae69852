"""`import kerasll` changes nothing global: no environment variables, no device initialisation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, os
{first}
before = dict(os.environ)
import kerasll
after = dict(os.environ)
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
print(json.dumps({{"changed": changed, "devices": len(tf.config.list_logical_devices("CPU"))}}))
"""


def probe(first):
    # Without the variables kerasll once set itself, so that setting them again would show.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.processes
def test_import_after_tensorflow_sets_no_variable_and_leaves_devices_configurable():
    result = probe("import tensorflow, keras")
    assert result == {"changed": [], "devices": 2}


@pytest.mark.processes
def test_import_first_still_leaves_devices_configurable():
    # TensorFlow sets variables of its own on import (KMP_*, TF2_BEHAVIOR…); kerasll adds none of its own.
    result = probe("")
    assert result["devices"] == 2
    assert not {"TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND"} & set(result["changed"])


LIGHT = """
import sys
{code}
heavy = sorted(m for m in ("tensorflow", "keras", "matplotlib") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def heavy_modules(code, *args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository, for zoo/ paths
    out = subprocess.run([sys.executable, "-c", LIGHT.format(code=code), *args], capture_output=True, text=True,
                         timeout=300, cwd=root)
    assert "HEAVY=" in out.stdout, out.stdout[-1000:] + out.stderr[-2000:]
    return out.stdout.split("HEAVY=")[-1].strip(), out


def test_import_kerasll_imports_no_tensorflow_and_names_load_on_first_use():
    heavy, _ = heavy_modules("import kerasll as kl\nassert 'certify' in dir(kl) and kl.__version__\n"
                             "assert kl.list_defenses()[:2] == ['none', 'at'] and 'lenet' in kl.list_models()")
    assert heavy == ""


@pytest.mark.processes
def test_first_use_imports_tensorflow_and_a_defense_model_file_then_loads_with_keras():
    # One process (each costs a TensorFlow import): a name that needs TensorFlow imports it, a submodule never
    # shadows its function, and after the first such name keras.saving knows the defenses' model classes.
    heavy, out = heavy_modules("import keras, kerasll as kl\nfrom kerasll import pgd\nimport kerasll.landscapes.flatness\n"
                               "assert callable(kl.flatness) and pgd.__name__ == 'pgd' and kl.attacks.apgd.__name__ == 'apgd'\n"
                               "m = keras.saving.load_model('zoo/fmnist-lenet-amsreg/model.keras')\n"
                               "assert type(m).__name__ == 'AMSRegModel'\n"
                               "assert type(kl.load_model('zoo/fmnist-lenet-at/model.keras')).__name__ == "
                               "'AdversarialTrainingModel'")
    assert out.returncode == 0 and "tensorflow" in heavy, out.stderr[-2000:]


@pytest.mark.processes
def test_help_and_the_zoo_commands_run_without_tensorflow():
    run = "from kerasll.cli.main import main\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code"
    for args in (["--help"], ["--version"], ["zoo", "list"], ["zoo", "show", "fmnist-lenet-at", "--json"],
                 ["zoo", "recipes"], ["train", "--help"], ["eval", "--help"], ["certify", "--help"]):
        heavy, out = heavy_modules(run, *args)
        assert "tensorflow" not in heavy and "keras" not in heavy, (args, heavy)


@pytest.mark.processes
def test_a_mistyped_name_is_refused_before_tensorflow_starts():
    """An unknown entry, surrogate, data set, attack or defense: one line and exit 1, with TensorFlow never imported."""
    run = ("from kerasll.cli.main import main\ntry:\n    main()\nexcept SystemExit as e:\n    assert e.code == 1, e.code\n"
           "else:\n    raise AssertionError('no error')")
    for args in (["eval", "nope"], ["eval", "fmnist-lenet-at", "--attack", "cw"], ["certify", "nope"],
                 ["eval", "fmnist-lenet-at", "--transfer-from", "nothing"], ["eval", "m.keras", "--dataset", "mnist"],
                 ["train", "--defense", "nope"], ["train", "--dataset", "mnist"], ["landscape", "nope"]):
        heavy, out = heavy_modules(run, *args)
        assert "tensorflow" not in heavy and out.stderr.count("error: ") == 1, (args, heavy, out.stderr[-500:])


@pytest.mark.processes
def test_the_demo_pins_the_cpu_kernels_only_before_tensorflow_starts():
    code = ("import os\nfor k in ('TF_ENABLE_ONEDNN_OPTS', 'ONEDNN_MAX_CPU_ISA', 'TF_NUM_INTRAOP_THREADS'):\n"
            "    os.environ.pop(k, None)\nos.environ['TF_NUM_INTRAOP_THREADS'] = '3'\n"
            "from kerasll.numerics import describe, pin_cpu_numerics\np = pin_cpu_numerics()\n"
            "assert p == {'TF_ENABLE_ONEDNN_OPTS': '1', 'ONEDNN_MAX_CPU_ISA': 'AVX2', 'TF_NUM_INTRAOP_THREADS': '3'}, p\n"
            "assert 'set by the environment' in describe(p)\nimport tensorflow\n"
            "assert pin_cpu_numerics() is None and 'not pinned' in describe(None)")
    heavy, out = heavy_modules(code)
    assert out.returncode == 0 and "tensorflow" in heavy, out.stderr[-2000:]


@pytest.mark.processes
def test_keras_loads_every_shipped_entry_right_after_import_kerasll_in_either_order():
    """`import kerasll` makes its Keras classes known to keras.saving as soon as Keras is imported, before or
    after it, with no other kerasll call: the way any Keras user loads a model."""
    for first in ("import kerasll, keras", "import keras, kerasll"):
        code = (f"{first}, pathlib\nfor p in sorted(pathlib.Path('zoo').glob('*/model.keras')):\n"
                "    assert keras.saving.load_model(p).name, p\nprint(len(list(pathlib.Path('zoo').glob('*/model.keras'))))")
        heavy, out = heavy_modules(code)
        shipped = len(list((Path(__file__).resolve().parents[1] / "zoo").glob("*/model.keras")))
        assert shipped >= 9 and out.returncode == 0 and out.stdout.strip().splitlines()[0] == str(shipped), \
            (first, out.stderr[-2000:])


def test_a_backend_that_is_not_installed_or_not_kerasll_s_is_one_line_before_keras_starts(tmp_path):
    """KERAS_BACKEND (or keras.json) naming a backend kerasll does not run on, or one whose library is missing:
    `kerasll eval` says so in one line, exit 1, nothing written (Keras itself would end in a traceback from
    inside its import)."""
    from helpers import hiding_site

    site = hiding_site(tmp_path / "site", "torch")
    env = os.environ | {"KERASLL_ZOO": str(tmp_path / "zoo"), "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
                        "KERAS_HOME": str(tmp_path / "keras-home")}
    (tmp_path / "keras-home").mkdir()
    (tmp_path / "keras-home" / "keras.json").write_text(json.dumps({"backend": "torch"}))
    cases = (({"KERAS_BACKEND": "mxnet"}, "kerasll runs on the Keras backends tensorflow, jax, torch, not 'mxnet'"),
             ({"KERAS_BACKEND": "torch"}, "Keras is set to the torch backend (KERAS_BACKEND), but torch is not "
                                          "installed here: pip install torch, or set KERAS_BACKEND to one that is"),
             ({}, f"Keras is set to the torch backend ({tmp_path / 'keras-home' / 'keras.json'}), but torch is not"))
    for extra, message in cases:
        out = subprocess.run([sys.executable, "-m", "kerasll", "eval", "fmnist-lenet-at", "--limit", "5", "--json",
                              str(tmp_path / "o.json")], env={**{k: v for k, v in env.items() if k != "KERAS_BACKEND"},
                                                             **extra}, capture_output=True, text=True, timeout=300)
        assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout, out.stderr[-2000:]
        assert out.stderr.count("error: ") == 1 and message in out.stderr, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keras-home", "site"]  # no zoo, no JSON
