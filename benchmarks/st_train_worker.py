"""sentence-transformers' SentenceTransformerTrainer, timed for training_peer.py in a process (and venv) of its own.

Its trainer needs `accelerate`, which embedlab's environment lacks, so it runs from runs/st-train-venv (the Makefile's
st-train-venv: embedlab's own packages plus accelerate, so torch, transformers and tokenizers are the very same).
Reads one JSON request from argv, trains, and prints one JSON line: step times, memory, losses.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from datasets import Dataset
from process_memory import memory_mib
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.losses import (
    CachedMultipleNegativesRankingLoss,
    MultipleNegativesRankingLoss,
)
from step_clock import StepClock


def read_triplets(path: str) -> dict[str, list[str]]:
    """embedlab's triplet file (anchor, positive, negatives: [one]) as the three columns sentence-transformers reads."""
    columns: dict[str, list[str]] = {"anchor": [], "positive": [], "negative": []}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        columns["anchor"].append(row["anchor"])
        columns["positive"].append(row["positive"])
        columns["negative"].append(row["negatives"][0])
    return columns


def check_loss(model: SentenceTransformer, columns: dict[str, list[str]], size: int) -> float:
    """MNRL of the file's first `size` triplets, eval mode (no dropout), before any step: the agreement check."""
    model.eval()
    with torch.no_grad():
        features = [model.preprocess([*columns[name][:size]]) for name in ("anchor", "positive", "negative")]
        value = float(MultipleNegativesRankingLoss(model)(features, None))
    model.train()
    return value


def main() -> None:
    request = json.loads(sys.argv[1])
    torch.set_num_threads(request["threads"])
    clock = StepClock()
    started = time.perf_counter()
    model = SentenceTransformer(request["model"], device="cpu")
    model.max_seq_length = request["max_seq_length"]
    columns = read_triplets(request["triplets"])
    if request["loss"] == "cached":
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=request["mini_batch_size"])
    else:
        loss = MultipleNegativesRankingLoss(model)
    args = SentenceTransformerTrainingArguments(
        output_dir=request["output_dir"],
        max_steps=request["max_steps"],
        per_device_train_batch_size=request["batch_size"],
        learning_rate=request["learning_rate"],
        warmup_steps=request["warmup_ratio"],  # a float below 1 is a share of the steps in transformers 5
        weight_decay=request["weight_decay"],
        max_grad_norm=request["max_grad_norm"],
        bf16=request["bf16"],
        use_cpu=True,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=1,  # every step's loss, for the first-step comparison
        report_to="none",
        disable_tqdm=True,
        seed=request["seed"],
        dataloader_num_workers=0,
        # What its documentation recommends for in-batch negatives; embedlab's sampler also keeps duplicates out.
        batch_sampler=BatchSamplers.NO_DUPLICATES,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(columns), loss=loss)
    loaded = memory_mib()
    load_seconds = time.perf_counter() - started
    first_batch_loss = check_loss(model, columns, request["batch_size"])
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    print(json.dumps({
        **clock.result(request["warmup_steps"]),
        "loaded_mib": loaded,
        "load_seconds": load_seconds,
        "check_loss": first_batch_loss,
        "losses": losses,
        "optimizer": f"AdamW ({args.optim})",
    }))


if __name__ == "__main__":
    main()
