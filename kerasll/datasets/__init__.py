"""Data sets: Fashion-MNIST and CIFAR-10 from their own files, tfds, or the embedded subset."""

from kerasll.datasets.loading import DataNotFoundError, load_dataset
from kerasll.datasets.pipeline import DataEpoch, make_pipeline
from kerasll.datasets.registry import DatasetInfo, dataset_info, list_datasets
from kerasll.datasets.sources import TestData, load_data

__all__ = ["DataEpoch", "DataNotFoundError", "DatasetInfo", "TestData", "dataset_info", "list_datasets", "load_data",
           "load_dataset", "make_pipeline"]
