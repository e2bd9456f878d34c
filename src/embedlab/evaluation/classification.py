"""Classification probe: how linearly separable the labels are in frozen embeddings.

A logistic regression is cross-validated over stratified folds: every text is tested once, no split file needed.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from embedlab.data.labeled import LabeledTexts, read_labeled_texts
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.result import EvalResult
from embedlab.instructions import encode_for_task, task_setting


@dataclass(frozen=True)
class ClassificationConfig:
    """Cross-validation folds (shuffled with `seed`) and the probe's inverse regularisation `c` and `max_iter`.

    Embeddings are used as the model returns them, so the probe sees what downstream users get.
    """

    folds: int = 5
    seed: int = 0
    c: float = 1.0
    max_iter: int = 1000
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise EmbedlabError(f"folds must be >= 2, got {self.folds}")
        if self.c <= 0 or self.max_iter < 1 or self.batch_size < 1:
            raise EmbedlabError(
                f"c, max_iter and batch_size must be positive, got {self.c}, {self.max_iter}, {self.batch_size}"
            )


def evaluate_classification(
    model: Embedder,
    data: str | os.PathLike | LabeledTexts,
    config: ClassificationConfig = ClassificationConfig(),
    task: str | None = None,
) -> EvalResult:
    """Mean fold `accuracy` (main), macro `f1` and `accuracy_std` (population std over folds).
    A `task` is the instruction an instruction-tuned model reads before every text.

    A class with fewer members than folds is an error rather than a silent drop to fewer folds,
    so a figure always means the configured protocol.
    """
    texts = data if isinstance(data, LabeledTexts) else read_labeled_texts(data)
    labels = texts.label_ids("classification")
    smallest, count = min(Counter(texts.label).items(), key=lambda item: item[1])
    if count < config.folds:
        raise EmbedlabError(
            f"{texts.name}: class {smallest!r} has {count} texts, fewer than the {config.folds} folds; "
            + (f"lower folds to {count} or add texts" if count >= 2 else "every class needs at least 2 texts")
        )
    embeddings = np.asarray(encode_for_task(model, texts.text, task, batch_size=config.batch_size))
    splitter = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
    accuracy, f1, converged = [], [], True
    for train, test in splitter.split(embeddings, labels):
        probe = LogisticRegression(C=config.c, max_iter=config.max_iter, random_state=config.seed)
        predicted = probe.fit(embeddings[train], labels[train]).predict(embeddings[test])
        accuracy.append(accuracy_score(labels[test], predicted))
        f1.append(f1_score(labels[test], predicted, average="macro"))
        converged &= bool(probe.n_iter_.max() < config.max_iter)
    metrics = {"accuracy": float(np.mean(accuracy)), "f1": float(np.mean(f1)), "accuracy_std": float(np.std(accuracy))}
    settings = {**asdict(config), "texts": len(labels), "classes": int(labels.max()) + 1, "converged": converged}
    settings |= task_setting(task)
    return EvalResult("classification", texts.name, model.name, metrics, "accuracy", settings)
