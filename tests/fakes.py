"""Stand-in models for tests: fixed vectors per text, so evaluation metrics can be worked out by hand."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import sparse

from embedlab.errors import EmbedlabError
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


class WordTokenizer:
    """A tokenizer stand-in over a fixed vocabulary: lower-cased whitespace words, punctuation stripped; the
    few members of a Hugging Face tokenizer that the server and the playground call."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary
        self.ids = {word: i for i, word in enumerate(vocabulary)}

    def tokenize(self, text: str) -> list[str]:
        return [word for word in (w.strip(".,;:!?") for w in text.lower().split()) if word]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.vocabulary[int(i)] for i in ids]

    def __call__(self, texts, **kwargs) -> dict:
        return {"input_ids": [[self.ids.get(word, 0) for word in self.tokenize(text)] for text in texts]}


# The sparse stand-in's vocabulary: "[UNK]" first (unknown words), then words, some of which expand to a relative.
VOCABULARY = ["[UNK]", "guitar", "music", "piano", "plays", "stage", "stock", "market", "finance", "fell", "soup",
              "food", "onion", "moon", "space", "rain", "weather", "the", "a", "is", "on", "of", "and", "today"]
EXPANSIONS = {"guitar": "music", "piano": "music", "stock": "finance", "market": "finance", "soup": "food",
              "onion": "food", "moon": "space", "rain": "weather"}


class HashingSparseEncoder:
    """A SPLADE stand-in: each known word of a text weighs log(1 + count) on its own term, and a word with a
    relative (guitar -> music) puts half that on the relative: an expansion term the text does not contain.
    Unknown words are dropped. Queries and documents are encoded alike."""

    name = "hashing-sparse"
    max_seq_length = None

    def __init__(self) -> None:
        self.tokenizer = WordTokenizer(VOCABULARY)
        self.calls: list[list[str]] = []

    @property
    def vocab_size(self) -> int:
        return len(VOCABULARY)

    def info(self) -> dict:
        return {"name": self.name, "vocab_size": self.vocab_size}

    def _encode(self, texts) -> sparse.csr_matrix:
        texts = list(texts)
        self.calls.append(texts)
        rows = np.zeros((len(texts), self.vocab_size), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in self.tokenizer.tokenize(text):
                if word in self.tokenizer.ids:
                    rows[row, self.tokenizer.ids[word]] += 1.0
        weights = np.log1p(rows)
        for word, relative in EXPANSIONS.items():
            related = self.tokenizer.ids[relative]
            weights[:, related] = np.maximum(weights[:, related], weights[:, self.tokenizer.ids[word]] / 2)
        return sparse.csr_matrix(weights)

    def encode_queries(self, queries, **options) -> sparse.csr_matrix:
        return self._encode(queries)

    def encode_documents(self, documents, **options) -> sparse.csr_matrix:
        return self._encode(documents)

    def terms(self, row, top_k: int | None = None) -> list[tuple[str, float]]:
        row = sparse.csr_matrix(row)
        order = sorted(zip(row.indices.tolist(), row.data.tolist()), key=lambda entry: (-entry[1], entry[0]))
        return [(VOCABULARY[i], float(w)) for i, w in order[:top_k]]


class HashingMultiVectorEncoder:
    """A ColBERT stand-in: one unit vector per lower-cased word (a fixed random vector of the word), so shared
    words match with 1.0. Queries get the marker "[Q]" and are padded with "[MASK]" tokens (their vector: the
    unit mean of the query's words) to QUERY_LENGTH; a longer query is refused, as past a marker budget.
    Documents keep their words only: one of punctuation alone has no tokens."""

    name = "hashing-colbert"
    max_seq_length = None
    QUERY_LENGTH = 8

    def __init__(self, dim: int = 16, seed: int = 0) -> None:
        self.dim = dim
        self.projection = np.random.default_rng(seed).standard_normal((4096, dim)).astype(np.float32)
        self.tokenizer = WordTokenizer(["[UNK]"])
        self.calls: list[list[str]] = []

    def info(self) -> dict:
        return {"name": self.name, "dim": self.dim}

    def _vectors(self, words: list[str]) -> np.ndarray:
        rows = self.projection[[zlib.crc32(word.encode()) % len(self.projection) for word in words]]
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def query_tokens(self, query: str) -> list[str]:
        words = ["[Q]", *self.tokenizer.tokenize(query)]
        if len(words) > self.QUERY_LENGTH:
            raise EmbedlabError(f"the query has {len(words)} tokens with its marker; this model reads at most "
                                f"{self.QUERY_LENGTH}")
        return words + ["[MASK]"] * (self.QUERY_LENGTH - len(words))

    def document_tokens(self, document: str) -> list[str]:
        return self.tokenizer.tokenize(document)

    def encode_queries(self, queries, **options) -> list[np.ndarray]:
        self.calls.append(list(queries))
        out = []
        for query in queries:
            tokens = self.query_tokens(query)
            words = [t for t in tokens if t != "[MASK]"]
            rows = self._vectors(words)
            mask = rows.mean(axis=0)
            mask /= np.linalg.norm(mask)
            out.append(np.vstack([rows, np.tile(mask, (len(tokens) - len(words), 1))]).astype(np.float32))
        return out

    def encode_documents(self, documents, **options) -> list[np.ndarray]:
        self.calls.append(list(documents))
        return [self._vectors(words).astype(np.float32) if (words := self.document_tokens(document))
                else np.zeros((0, self.dim), dtype=np.float32) for document in documents]
