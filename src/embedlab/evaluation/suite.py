"""The evaluation suite: every dataset found under the data root, one model, one table.

Datasets are found by layout, so a new folder of the right shape joins the suite without code changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embedlab.data import data_root
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.evaluation.result import EvalResult

LAYOUTS = (
    (("sts",), "sts/*/{split}.jsonl", False),
    (("retrieval", "reranking"), "beir/*/qrels/{split}.tsv", True),
    (("pairs",), "pairs/*/{split}.jsonl", False),
    (("clustering", "classification"), "classification/*/{split}.jsonl", False),
)


@dataclass(frozen=True)
class SuiteTask:
    """One evaluation to run: a task name and the file or BEIR directory it reads."""

    task: str
    dataset: str
    path: Path
    split: str = "test"


def discover_tasks(root: Path | None = None, split: str = "test") -> list[SuiteTask]:
    """Every task the data root supports, in a stable order.

    sts/<name>/<split>.jsonl, beir/<name>/qrels/<split>.tsv (retrieval and BM25 reranking),
    pairs/<name>/<split>.jsonl, classification/<name>/<split>.jsonl (clustering and classification).
    """
    root = data_root() if root is None else Path(root)
    if not root.is_dir():
        raise EmbedlabError(f"no data root at {root}: set EMBEDLAB_DATA")
    tasks: list[SuiteTask] = []
    for task_names, pattern, beir_dir in LAYOUTS:
        for path in sorted(root.glob(pattern.format(split=split))):
            # A BEIR task reads its whole directory (two levels above qrels/<split>.tsv); others one file.
            location = path.parents[1] if beir_dir else path
            dataset = location.name if beir_dir else path.parent.name
            tasks.extend(SuiteTask(task, dataset, location, split) for task in task_names)
    return tasks


def run_task(model: Embedder, task: SuiteTask, batch_size: int = 32) -> EvalResult:
    """Run one suite task with its evaluator's default settings."""
    from embedlab.evaluation.classification import (
        ClassificationConfig,
        evaluate_classification,
    )
    from embedlab.evaluation.clustering import ClusteringConfig, evaluate_clustering
    from embedlab.evaluation.pairs import evaluate_pairs
    from embedlab.evaluation.reranking import evaluate_reranking
    from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval
    from embedlab.evaluation.sts import evaluate_sts

    runners: dict[str, Callable[[], EvalResult]] = {
        "sts": lambda: evaluate_sts(model, task.path, batch_size=batch_size),
        "retrieval": lambda: evaluate_retrieval(
            model, task.path, RetrievalConfig(split=task.split, batch_size=batch_size)
        ),
        "reranking": lambda: evaluate_reranking(model, task.path, split=task.split),
        "pairs": lambda: evaluate_pairs(model, task.path),
        "clustering": lambda: evaluate_clustering(model, task.path, ClusteringConfig()),
        "classification": lambda: evaluate_classification(model, task.path, ClassificationConfig()),
    }
    return runners[task.task]()


def run_suite(
    model: Embedder,
    tasks: list[SuiteTask],
    on_result: Callable[[EvalResult], None] | None = None,
) -> list[EvalResult]:
    """Run the tasks in order, handing each result to `on_result` as soon as it exists."""
    results = []
    for task in tasks:
        result = run_task(model, task)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def suite_markdown(results: list[EvalResult]) -> str:
    """A markdown table of main scores (x100), one row per task and dataset."""
    lines = ["| task | dataset | metric | score |", "|---|---|---|---:|"]
    lines += [f"| {r.task} | {r.dataset} | {r.main_metric} | {100 * r.main_score:.2f} |" for r in results]
    return "\n".join(lines) + "\n"
