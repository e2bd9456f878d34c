"""Reading datasets: where they live and how their files are parsed."""

from embedlab.data.beir import BeirDataset, load_beir
from embedlab.data.labeled import (
    read_labeled_pairs,
    read_labeled_texts,
    read_scored_pairs,
)
from embedlab.data.root import data_root, dataset_path
from embedlab.data.texts import read_texts

__all__ = [
    "BeirDataset",
    "data_root",
    "dataset_path",
    "load_beir",
    "read_labeled_pairs",
    "read_labeled_texts",
    "read_scored_pairs",
    "read_texts",
]
