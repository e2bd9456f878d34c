"""Static distillation: a transformer's view of every vocabulary token, reduced by PCA and SIF-weighted.

The result encodes by table look-up and averaging (a StaticEncoder), orders of magnitude faster than the
transformer. The recipe is model2vec's but for one change: a token's row is its own output vector, not the
pooled [CLS] token [SEP] (docs/inference.md has the comparison).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from embedlab.errors import EmbedlabError
from embedlab.files import open_text
from embedlab.models.encoder import Encoder
from embedlab.models.static_encoder import StaticEncoder, zipf_sif_weights

# Placeholder rows of BERT-style vocabularies: never produced by the tokenizer, only noise for the PCA.
UNUSED_TOKEN = re.compile(r"\[unused\d+\]|<unused\d+>")
VECTORS = ("token", "pooled")


@dataclass(frozen=True)
class DistillConfig:
    """How to distill: output dimensions, SIF strength and how many tokens go through the model at once."""

    dim: int = 256
    # None: 1e-4 with Zipf ranks (model2vec's value), 3e-4 with word frequencies (the better one on STS-B dev).
    sif_coefficient: float | None = None
    # A word list in frequency order (a GloVe file, a word-count file): its first column estimates p(token).
    word_frequencies: Path | None = None
    # "token": the token's own last-layer vector in [CLS] token [SEP]; "pooled": the model's pooling over all
    # three (model2vec's recipe). token wins on SciFact and ties on STS-B dev (docs/benchmarks/static_recipe.md).
    vectors: str = "token"
    batch_size: int = 1024

    @property
    def sif(self) -> float:
        """The SIF coefficient a in a / (a + p(token)) actually used."""
        if self.sif_coefficient is not None:
            return self.sif_coefficient
        return 1e-4 if self.word_frequencies is None else 3e-4


def distill(encoder: Encoder, config: DistillConfig = DistillConfig()) -> StaticEncoder:
    """A StaticEncoder whose row i is token i as the transformer sees it alone, in [CLS] token [SEP].

    Placeholder and special tokens are left out (zero rows). PCA keeps `dim` components (centred, as model2vec
    does); each row is then weighted by a / (a + p(token)), p from the word-frequency list when given, else
    from a Zipf law over the kept tokens in id order, which in WordPiece and BPE vocabularies roughly follows
    frequency. The frequency list helps short-text similarity (docs/benchmarks/static_recipe.md).
    """
    tokenizer = Tokenizer.from_str(encoder.tokenizer.backend_tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    words = [
        token for token, _ in sorted(tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda item: item[1])
    ]
    special = set(encoder.tokenizer.all_special_ids)
    kept = np.array([i not in special and not UNUSED_TOKEN.fullmatch(w) for i, w in enumerate(words)])
    if not 1 <= config.dim <= min(encoder.dim, int(kept.sum())):
        raise EmbedlabError(f"dim must be between 1 and {min(encoder.dim, int(kept.sum()))}, not {config.dim}")
    if not 0 < config.sif < 1:
        raise EmbedlabError(f"sif_coefficient must be between 0 and 1, not {config.sif}")
    if config.word_frequencies is None:
        weights = zipf_sif_weights(int(kept.sum()), config.sif)
    else:
        p = token_probabilities(tokenizer, read_word_list(config.word_frequencies), len(words))[kept]
        weights = config.sif / (config.sif + p)
    vectors = token_vectors(encoder, np.flatnonzero(kept), config.batch_size, config.vectors)
    table = np.zeros((len(words), config.dim), dtype=np.float32)
    table[kept] = _pca(vectors, config.dim) * weights[:, None]
    return StaticEncoder(words, table, name=f"{encoder.name}-static{config.dim}", tokenizer=tokenizer)


def token_vectors(
    encoder: Encoder, token_ids: np.ndarray, batch_size: int = 1024, vectors: str = "token"
) -> np.ndarray:
    """(tokens, hidden) vectors of the given token ids, each run alone as [CLS] token [SEP].

    vectors="token" reads the token's own position through a torch backend's transformer; "pooled" takes the
    model's pooled output through any backend (ONNX included).
    """
    if vectors not in VECTORS:
        raise EmbedlabError(f"vectors must be one of {', '.join(VECTORS)}, not {vectors!r}")
    tokenizer = encoder.tokenizer
    first, last = tokenizer.cls_token_id, tokenizer.sep_token_id
    ids = torch.as_tensor(token_ids, dtype=torch.int64)[:, None]
    columns = [ids]
    if first is not None:
        columns.insert(0, torch.full_like(ids, first))
    if last is not None:
        columns.append(torch.full_like(ids, last))
    sequences = torch.cat(columns, dim=1)
    position = 0 if first is None else 1
    token_model = encoder.backend.torch_model(encoder.model)
    if vectors == "token" and token_model is None:
        raise EmbedlabError(f"vectors='token' reads the transformer's token outputs, which backend "
                            f"{encoder.backend.name} does not expose: use backend torch or torch-bf16")
    parts = []
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            batch = sequences[start : start + batch_size]
            features = {"input_ids": batch, "attention_mask": torch.ones_like(batch)}
            if encoder.model.token_type_ids:
                features["token_type_ids"] = torch.zeros_like(batch)
            if vectors == "token":
                features = {k: v.to(encoder.device) for k, v in features.items()}
                hidden, _ = token_model.token_states(features)
                parts.append(hidden[:, position].cpu().numpy())
            else:
                parts.append(encoder.backend.embed(encoder.model, features, 0).numpy())
    return np.concatenate(parts).astype(np.float32, copy=False)


def read_word_list(path: Path) -> list[str]:
    """The first whitespace-separated field of every line (GloVe files and word counts alike), .gz allowed."""
    path = Path(path)
    try:
        with open_text(path) as handle:
            words = [line.split(maxsplit=1)[0] for line in handle if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise EmbedlabError(f"cannot read the word-frequency list {path}: {err}") from None
    if not words:
        raise EmbedlabError(f"the word-frequency list {path} is empty")
    return words


def token_probabilities(tokenizer: Tokenizer, words: list[str], vocab_size: int) -> np.ndarray:
    """p(token) from words in frequency order: each word gets Zipf mass 1/rank, shared by its word pieces."""
    word_p = 1.0 / np.arange(1, len(words) + 1)
    counts = np.zeros(vocab_size, dtype=np.float64)
    for p, encoding in zip(word_p, tokenizer.encode_batch(words, add_special_tokens=False)):
        np.add.at(counts, encoding.ids, p)
    return counts / counts.sum()


def _pca(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Centred projection on the top `dim` principal axes (eigenvectors of the covariance, in float64)."""
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    values, axes = np.linalg.eigh(centred.T @ centred)
    top = axes[:, np.argsort(values)[::-1][:dim]]
    return centred @ top


def distill_model(name: str | None, out: Path, config: DistillConfig = DistillConfig(), backend: str = "torch") -> Path:
    """Distill the model `name` and save the static model to `out` (loadable by Encoder.load and model2vec)."""
    start = time.perf_counter()
    encoder = Encoder.load(name, device="cpu", backend=backend)
    if not isinstance(encoder, Encoder):
        raise EmbedlabError(f"{name} is already a static model; distill a transformer")
    static = distill(encoder, config)
    settings = {**asdict(config), "sif_coefficient": config.sif, "word_frequencies": str(config.word_frequencies or "")}
    provenance = {"teacher": encoder.name, "distill": settings, "seconds": round(time.perf_counter() - start, 1)}
    return static.save(out, config={"embedlab": provenance})
