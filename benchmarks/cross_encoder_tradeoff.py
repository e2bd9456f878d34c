"""Bi-encoder vs cross-encoder on this CPU: STS-B test accuracy of both, and the cost of scoring every pair of
10,000 sentences.

The bi-encoder time is measured whole (encode + one matrix product); the cross-encoder is timed on a sample
of pairs and extrapolated to all 49,995,000. Writes docs/benchmarks/cross_encoder_tradeoff.{json,md}.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from common import REPORTS, measured_at, report_heading, write_report

from embedlab import Encoder
from embedlab.data import dataset_path
from embedlab.data.labeled import read_scored_pairs
from embedlab.evaluation.pair_scoring import evaluate_pair_scorer
from embedlab.evaluation.sts import evaluate_sts
from embedlab.hardware import cpu_info, report_header
from embedlab.models.cross_encoder import CrossEncoder, PairScorer
from embedlab.training.build import train
from embedlab.training.config import TrainConfig

SENTENCES = 10_000


def cross_encoder_config(output_dir: str, epochs: int) -> TrainConfig:
    """A cross-encoder from all-MiniLM-L6-v2's transformer, BCE on STS-B train scores / 5, best of STS-B dev."""
    return TrainConfig(
        data=[{"path": "sts/stsb/train.jsonl", "kind": "scored"}], architecture="cross_encoder", loss={"name": "bce"},
        model="minilm", batch_size=16, epochs=epochs, learning_rate=4e-5, warmup_ratio=0.1,
        eval_data="sts/stsb/dev.jsonl", eval_every=180, checkpoint_every=10_000, output_dir=output_dir,
    )


def all_pairs(n: int) -> int:
    return n * (n - 1) // 2


def sentences(count: int) -> list[str]:
    """`count` distinct STS-B sentences (train, dev, test in file order)."""
    found: dict[str, None] = {}
    for split in ("train", "dev", "test"):
        pairs = read_scored_pairs(dataset_path("sts", "stsb", f"{split}.jsonl"))
        found.update(dict.fromkeys([*pairs.sentence1, *pairs.sentence2]))
    return list(found)[:count]


def time_bi_encoder(model: Encoder, texts: list[str]) -> dict:
    start = time.perf_counter()
    vectors = torch.from_numpy(model.encode(texts, batch_size=64))
    encoded = time.perf_counter()
    scores = vectors @ vectors.T
    best = int(torch.triu(scores, diagonal=1).argmax())  # the most similar pair, as in the SBERT paper's example
    done = time.perf_counter()
    return {"encode_seconds": encoded - start, "matmul_seconds": done - encoded, "total_seconds": done - start,
            "best_pair": [best // len(texts), best % len(texts)]}


def time_cross_encoder(model: PairScorer, texts: list[str], sample: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    pairs = [tuple(rng.sample(texts, 2)) for _ in range(sample)]
    model.predict(pairs[:64], batch_size=64)  # warm-up
    start = time.perf_counter()
    model.predict(pairs, batch_size=64)
    seconds = time.perf_counter() - start
    return {"sample_pairs": sample, "sample_seconds": seconds, "pairs_per_second": sample / seconds,
            "extrapolated_seconds": all_pairs(len(texts)) * seconds / sample}


def markdown(result: dict) -> str:
    bi, ce = result["bi_encoder"], result["cross_encoder"]
    hours = ce["timing"]["extrapolated_seconds"] / 3600
    return "\n".join(
        [
            *report_heading("Bi-encoder vs cross-encoder"),
            f"Measured {result['measured']} with `python benchmarks/cross_encoder_tradeoff.py`.",
            "",
            f"| model | STS-B test Spearman | all pairs of {result['sentences']:,} sentences |",
            "|---|---:|---:|",
            (
                f"| bi-encoder: all-MiniLM-L6-v2 (cosine) | {100 * bi['stsb_test_spearman']:.2f} | "
                f"{bi['timing']['total_seconds']:.1f} s measured (encode {bi['timing']['encode_seconds']:.1f} s + "
                f"product {bi['timing']['matmul_seconds']:.2f} s) |"
            ),
            (
                "| cross-encoder: MiniLM-L6 transformer + head, trained on STS-B train | "
                f"{100 * ce['stsb_test_spearman']:.2f} | {hours:.1f} h extrapolated "
                f"({ce['timing']['pairs_per_second']:.0f} pairs/s on {ce['timing']['sample_pairs']} pairs x "
                f"{result['all_pairs']:,} pairs) |"
            ),
            "",
            "Published (SBERT paper, BERT-base on a V100 GPU): about 65 hours with a cross-encoder vs about 5 seconds",
            "with SBERT for the same 10,000 sentences. Both figures here are for a 6-layer MiniLM on this CPU.",
            "",
            (
                f"Cross-encoder training: {ce['training']['steps']} steps ({ce['training']['seconds'] / 60:.1f} min), "
                "BCE on score / 5, batch 16, learning rate 4e-5, best STS-B dev checkpoint "
                f"({100 * ce['training']['best_dev']:.2f})."
            ),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sample", type=int, default=2000, help="cross-encoder pairs timed")
    parser.add_argument("--output-dir", default="runs/cross-encoder-stsb")
    parser.add_argument("--sentences", type=int, default=SENTENCES, help="fewer only for a quick check of the script")
    parser.add_argument("--max-steps", type=int, default=None, help="cap training (a quick check of the script)")
    args = parser.parse_args()
    test = read_scored_pairs(dataset_path("sts", "stsb", "test.jsonl"))
    bi_encoder = Encoder.load("minilm")
    config = cross_encoder_config(args.output_dir, args.epochs)
    config.max_steps = args.max_steps
    started = time.perf_counter()
    report = train(config, resume=False)
    cross_encoder = CrossEncoder.load(Path(args.output_dir) / "best")
    texts = sentences(args.sentences)
    result = {
        "measured": measured_at(), "cpu": report_header(cpu_info()),
        "sentences": len(texts), "all_pairs": all_pairs(len(texts)),
        "bi_encoder": {"model": "all-MiniLM-L6-v2", "stsb_test_spearman": evaluate_sts(bi_encoder, test).main_score,
                       "timing": time_bi_encoder(bi_encoder, texts)},
        "cross_encoder": {"model": str(Path(args.output_dir) / "best"),
                          "stsb_test_spearman": evaluate_pair_scorer(cross_encoder, test).main_score,
                          "timing": time_cross_encoder(cross_encoder, texts, args.sample),
                          "training": {"config": config.to_dict(), "steps": report.steps,
                                       "seconds": time.perf_counter() - started, "dev": report.evaluations,
                                       "best_dev": report.best_score}},
    }
    write_report(REPORTS, "cross_encoder_tradeoff", result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
