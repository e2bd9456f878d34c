"""One entry point for every kind of model name: transformers, aliases, static models and word-vector files.

`load_model` alone decides what a name, alias, hub id or directory is; the CLI and every tool call it, so a
GloVe path or a two-tower directory works wherever a model name does. `Encoder.load` loads transformers only.
"""

from __future__ import annotations

import os
from pathlib import Path

from embedlab.data import dataset_path
from embedlab.embedder import Embedder
from embedlab.errors import ModelLoadError
from embedlab.models.cross_encoder import is_cross_encoder_dir
from embedlab.models.encoder import Encoder
from embedlab.models.multi_vector import MultiVectorEncoder
from embedlab.models.multi_vector_format import is_multi_vector_dir
from embedlab.models.sparse_encoder import SparseEncoder
from embedlab.models.sparse_format import is_sparse_dir
from embedlab.models.static_encoder import StaticEncoder, check_static_backend, is_static_dir
from embedlab.models.two_tower import TwoTowerEncoder, is_two_tower_dir

WORD_VECTOR_SUFFIXES = (".txt", ".txt.gz", ".vec", ".vec.gz")
GLOVE_ALIAS = "glove"
GLOVE_FILE = ("glove", "glove.6B.50d.top100k.txt.gz")


def glove_path() -> Path:
    """The GloVe file under the data root (what `glove` names); a one-line error when the data root lacks it."""
    path = dataset_path(*GLOVE_FILE)
    if path is None:
        raise ModelLoadError("the 'glove' alias needs the data root's glove/ folder (set EMBEDLAB_DATA)")
    return path


def is_word_vector_file(name: str) -> bool:
    return name.lower().endswith(WORD_VECTOR_SUFFIXES)


def load_model(
    name: str | os.PathLike | None = None,
    *,
    pooling: str | None = None,
    device: str | None = None,
    allow_pickle: bool = False,
    backend: str = "torch",
    threads: int | None = None,
) -> Embedder | SparseEncoder | MultiVectorEncoder:
    """A transformer Encoder, a SparseEncoder (a sentence-transformers SparseEncoder directory), a MultiVectorEncoder
    (ColBERT), a TwoTowerEncoder (a sentence-transformers Router directory), or a StaticEncoder (`glove`, a
    word-vector file, a model2vec or StaticEmbedding directory), whichever `name` is; None is the bundled default
    model."""
    text = None if name is None else str(name)
    if text == GLOVE_ALIAS:
        text = str(glove_path())
    if text is not None and is_word_vector_file(text):
        if pooling not in (None, "mean"):
            raise ModelLoadError("word-vector models only average their words; drop --pooling")
        check_static_backend(backend)
        return StaticEncoder.load(Path(text))
    if text is not None and is_static_dir(Path(text).expanduser()):
        check_static_backend(backend)
        return StaticEncoder.load_dir(Path(text).expanduser())
    # Before the two-tower test: an inference-free sparse model is a Router directory too.
    if text is not None and is_sparse_dir(Path(text).expanduser()):
        if backend not in ("torch", "auto") or pooling is not None:
            raise ModelLoadError(f"{text} is a sparse model: it runs on the torch backend with SPLADE pooling only")
        return SparseEncoder.load(text, device=device, allow_pickle=allow_pickle)
    if text is not None and is_two_tower_dir(text):
        return TwoTowerEncoder.load(text, device=device)
    if text is not None and is_multi_vector_dir(Path(text).expanduser()):
        if backend not in ("torch", "auto") or pooling is not None:
            raise ModelLoadError(f"{text} is a multi-vector (ColBERT) model: it runs on torch, with no pooling")
        return MultiVectorEncoder.load(text, device=device, allow_pickle=allow_pickle)
    if text is not None and is_cross_encoder_dir(text):
        raise ModelLoadError(f"{text} is a cross-encoder: it scores pairs, it does not embed (use it with --rerank)")
    # backend and threads choose how a transformer runs (docs/inference.md); other models have one way only.
    return Encoder.load(
        text, pooling=pooling, device=device, allow_pickle=allow_pickle, backend=backend, threads=threads
    )
