"""Which static distillation recipe: a token's own output vector or the pooled [CLS] token [SEP], by weighting.

Chosen on development data (STS-B dev, SciFact *train* queries), reported on test too; writes
docs/benchmarks/static_recipe.json + .md. Each variant is a full `distill` of all-MiniLM-L6-v2 (256 dims).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from common import REPORTS, measured_at, report_heading, write_report

from embedlab import Encoder
from embedlab.data import dataset_path
from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval
from embedlab.evaluation.sts import evaluate_sts
from embedlab.hardware import as_dict, cpu_info
from embedlab.models.distill import VECTORS, DistillConfig, distill
from embedlab.models.loading import glove_path

COLUMNS = {"stsb_dev": "STS-B dev", "scifact_train": "SciFact train nDCG@10", "stsb_test": "STS-B test",
           "scifact_test": "SciFact test nDCG@10"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args()
    sts, scifact = dataset_path("sts", "stsb"), dataset_path("beir", "scifact")
    if sts is None or scifact is None:
        raise SystemExit("needs STS-B and SciFact under the data root (EMBEDLAB_DATA)")
    teacher = Encoder.load("minilm", device="cpu")
    weightings = {"Zipf over token ids (a = 1e-4)": None, "GloVe word frequencies (a = 3e-4)": glove_path()}
    rows = []
    for vectors in VECTORS:
        for weighting, frequencies in weightings.items():
            config = DistillConfig(vectors=vectors, word_frequencies=frequencies)
            static = distill(teacher, config)
            # use_cache off: every variant has the teacher's name, so cached corpus embeddings would collide.
            scores = {f"stsb_{split}": 100 * evaluate_sts(static, sts / f"{split}.jsonl").metrics["spearman"]
                      for split in ("dev", "test")}
            for split in ("train", "test"):
                retrieval = RetrievalConfig(split=split, use_cache=False)
                scores[f"scifact_{split}"] = 100 * evaluate_retrieval(static, scifact, retrieval).metrics["ndcg@10"]
            rows.append({"vectors": vectors, "weighting": weighting, **{k: round(v, 2) for k, v in scores.items()}})
            print(rows[-1], flush=True)
    report = {"date": measured_at(), "cpu": as_dict(cpu_info()),
              "config": {k: str(v) for k, v in asdict(DistillConfig()).items()}, "rows": rows}
    lines = [*report_heading("Static distillation recipe"),
             (f"Run {report['date']} (`benchmarks/static_recipe.py`): all-MiniLM-L6-v2 distilled to 256 dims; "
              "STS-B Spearman and SciFact nDCG@10, x100. Development columns first."), "",
             "| token row | weighting | " + " | ".join(COLUMNS.values()) + " |",
             "|---|---|" + "---:|" * len(COLUMNS)]
    lines += [
        f"| {r['vectors']} | {r['weighting']} | " + " | ".join(f"{r[k]:.2f}" for k in COLUMNS) + " |" for r in rows
    ]
    write_report(args.out, "static_recipe", report, "\n".join(lines))
    print(f"wrote {args.out / 'static_recipe.md'}")


if __name__ == "__main__":
    main()
