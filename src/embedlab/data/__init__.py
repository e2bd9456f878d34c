"""Reading datasets: where they live and how their files are parsed."""

from embedlab.data.root import data_root, dataset_path
from embedlab.data.texts import read_texts

__all__ = ["data_root", "dataset_path", "read_texts"]
