"""Stand-in models for tests: fixed vectors per text, so evaluation metrics can be worked out by hand."""

from __future__ import annotations

import zlib

import numpy as np

from embedlab.instructions import query_prompt_for


class FakeEmbedder:
    """The Embedder members a stand-in model does not care about: no prompts, no tokenizer, unit vectors."""

    name = "fake"
    query_prompt = ""
    document_prompt = ""
    normalize = True
    max_seq_length = None
    tokenizer = None

    @property
    def prompts(self) -> dict[str, str]:
        return {}

    def info(self) -> dict:
        return {"name": self.name, "dim": self.dim}

    def query_prompt_for(self, task: str | None) -> str:
        return query_prompt_for(self.query_prompt, None, task)

    def encode_queries(self, texts, task: str | None = None, **kwargs) -> np.ndarray:
        """encode, with the instruction for `task` before each text when one is given (as a real model would)."""
        if task is None:
            return self.encode(texts, **kwargs)
        prefix = self.query_prompt_for(task)
        return self.encode(prefix + texts if isinstance(texts, str) else [prefix + t for t in texts], **kwargs)

    def encode_documents(self, texts, **kwargs) -> np.ndarray:
        return self.encode(texts, **kwargs)


class LookupEncoder(FakeEmbedder):
    """A model stand-in that embeds each text as a fixed vector from a table, so metrics can be worked by hand.

    It records each encode call, so tests can check what an evaluator asked for.
    """

    def __init__(self, table: dict[str, list[float]], name: str = "lookup") -> None:
        self.table = {text: np.asarray(vector, dtype=np.float32) for text, vector in table.items()}
        self.name = name
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], batch_size: int = 32, **kwargs) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([self.table[text] for text in texts])

    @property
    def dim(self) -> int:
        return len(next(iter(self.table.values())))


def grouped(centres: list[list[float]], per_group: int, spread: float, seed: int = 0) -> tuple[LookupEncoder, list]:
    """A model placing `per_group` texts around each centre, and the group label of each text."""
    rng = np.random.default_rng(seed)
    table, labels = {}, []
    for group, centre in enumerate(centres):
        for i in range(per_group):
            table[f"g{group}-{i}"] = np.asarray(centre) + spread * rng.standard_normal(len(centre))
            labels.append(f"group {group}")
    return LookupEncoder(table), labels


DIRECTIONS = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


class HashingEncoder(FakeEmbedder):
    """A fast model stand-in: a text's vector is the unit sum of fixed random vectors of its lower-cased words,
    so texts sharing words are close. Records every encode call; no tokenizer, so chunks count words."""

    def __init__(self, dim: int = 16, seed: int = 0, name: str = "hashing") -> None:
        self.dim = dim
        self.name = name
        self.seed = seed
        self.projection = np.random.default_rng(seed).standard_normal((4096, dim)).astype(np.float32)
        self.calls: list[list[str]] = []

    def info(self) -> dict:
        return {"name": self.name, "dim": self.dim, "seed": self.seed}

    def encode(self, texts, batch_size: int = 32, normalize: bool = True, **kwargs) -> np.ndarray:
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        self.calls.append(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row] += self.projection[zlib.crc32(word.strip(".,;:!?").encode()) % len(self.projection)]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.where(norms > 0, norms, 1.0)
        return vectors[0] if single else vectors
