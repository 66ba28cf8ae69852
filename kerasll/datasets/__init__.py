"""Data sets: Fashion-MNIST and CIFAR-10 from their own files, tfds, or the embedded subset.

The registry (`list_datasets`, `dataset_info`) imports nothing heavy; loading does on first use.
"""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    **dict.fromkeys(["DataNotFoundError", "load_dataset"], "kerasll.datasets.loading"),
    **dict.fromkeys(["ArrayBatches", "DataEpoch", "epoch_counter", "make_pipeline"], "kerasll.datasets.pipeline"),
    **dict.fromkeys(["DatasetInfo", "dataset_info", "list_datasets"], "kerasll.datasets.registry"),
    **dict.fromkeys(["TestData", "load_data"], "kerasll.datasets.sources"),
})
