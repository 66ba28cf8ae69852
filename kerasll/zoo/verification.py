"""`kerasll verify`'s wiring: a zoo entry or a .keras file, its test images, `kerasll.verify` per ε."""

from kerasll.zoo.entry import load_classifier
from kerasll.zoo.evaluation import check_fits, model_input_shape, test_data


def verify_model(zoo, name, inputs, eps_values, method, progress=None, log=None, time_limit=60.0):
    """The images and {ε: `VerifyResult`} for entry (or .keras file) `name` on the images `inputs` names;
    `progress(done, total, description)` after each pass."""
    from pathlib import Path

    from kerasll.verification import verify

    if Path(name).suffix == ".keras" or Path(name).is_file():
        model, dataset = load_classifier(name, log, inputs.unsafe), inputs.dataset
    else:
        entry = zoo.get(name)
        model, dataset = entry.load_model(inputs.unsafe, log), entry.metadata()["dataset"]
    data = test_data(inputs, dataset, model_input_shape(model))
    check_fits(model, data, name)
    results = {}
    for eps in eps_values:
        step = None if progress is None else (lambda done, e=eps: progress(done, len(data.y), f"ε = {e:g}"))
        results[eps] = verify(model, data.x, data.y, eps, method, progress=step, time_limit=time_limit)
    return data, results
