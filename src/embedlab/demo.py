"""The README's main job: six sentence pairs scored by three kinds of model, side by side.

It shows why sentence embeddings need training: untrained pooling puts every text in a narrow cone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from embedlab.data import dataset_path
from embedlab.embedder import Embedder
from embedlab.models.encoder import Encoder
from embedlab.models.loading import GLOVE_FILE
from embedlab.models.static_encoder import StaticEncoder
from embedlab.similarity import pairwise_cosine

# The pairs of the classic similarity-calculator demo: two paraphrases, two related, two unrelated.
DEMO_PAIRS = [
    ("restaurant food / eatery", "The restaurant serves delicious food.", "This eatery offers tasty meals."),
    ("weather / sunny", "The weather is lovely today.", "It is so sunny outside!"),
    ("running / exercise", "He goes running every morning.", "Regular exercise keeps you healthy."),
    ("cat / stock market", "The cat sleeps on the sofa.", "The stock market fell sharply today."),
    (
        "deep learning / neural networks",
        "Deep learning is a branch of machine learning.",
        "Neural networks learn representations from data.",
    ),
    ("writing code / moon", "I enjoy writing code in Python.", "The moon orbits the Earth."),
]
UNRELATED_PAIRS = (3, 5)


@dataclass
class DemoResult:
    """Cosine of every pair under every model, in the order of DEMO_PAIRS (label, text, text)."""

    pairs: list[tuple[str, str, str]]
    scores: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def spread(self, model: str) -> float:
        """Highest minus lowest cosine: how much room the model leaves to tell pairs apart."""
        return max(self.scores[model]) - min(self.scores[model])


def random_bert(seed: int = 0) -> Encoder:
    """A BERT of all-MiniLM-L6-v2's shape with random weights and mean pooling: pooling without training."""
    from transformers import AutoConfig, AutoModel

    minilm = Encoder.load()
    config = AutoConfig.from_pretrained(minilm.layout.transformer_dir)
    torch.manual_seed(seed)
    return Encoder.from_transformer(AutoModel.from_config(config), minilm.tokenizer, "mean", name="random BERT")


def run_demo(models: dict[str, Embedder] | None = None) -> DemoResult:
    """Score DEMO_PAIRS with averaged GloVe (when the data root has it), random BERT and all-MiniLM-L6-v2."""
    result = DemoResult(pairs=list(DEMO_PAIRS))
    if models is None:
        models = {}
        glove = dataset_path(*GLOVE_FILE)
        if glove is not None:
            models["averaged GloVe"] = StaticEncoder.load(glove)
        else:
            result.notes.append("GloVe skipped: no glove/ folder under the data root (EMBEDLAB_DATA)")
        models["random BERT + mean"] = random_bert()
        models["all-MiniLM-L6-v2"] = Encoder.load()
    left = [a for _, a, _ in DEMO_PAIRS]
    right = [b for _, _, b in DEMO_PAIRS]
    for name, model in models.items():
        cosines = pairwise_cosine(model.encode(left, normalize=True), model.encode(right, normalize=True))
        result.scores[name] = [round(float(c), 4) + 0.0 for c in cosines]  # + 0.0 turns -0.0 into 0.0
    return result
