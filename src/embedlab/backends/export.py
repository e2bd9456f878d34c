"""Export an encoder to ONNX: transformer, pooling and normalisation in one graph, checked against torch.

torch.onnx.export writes the graph, ONNX Runtime's transformer optimizer fuses attention and layer norms, and
the int8 graph is quantized from the fused one. Each export is validated on fixed texts before it is recorded.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from embedlab.atomic import atomic_path
from embedlab.backends.base import Backend, ExportableEncoder
from embedlab.backends.int8 import Int8Config, quantize_graph
from embedlab.backends.manifest import encoder_weights_sha256, record_graph
from embedlab.backends.onnx_backend import NORMALIZED_OUTPUT, POOLED_OUTPUT, OnnxBackend
from embedlab.backends.support import ONNX_ALTERNATIVE, check_onnx_exportable, fusion_model_type
from embedlab.errors import EmbedlabError
from embedlab.extras import require
from embedlab.hardware import cpu_info
from embedlab.models.core import EmbeddingModel
from embedlab.models.model_files import first_line

GRAPH_DIR = "onnx"  # where sentence-transformers keeps its ONNX graphs too
FP32_FILE = "model.onnx"
INT8_FILE = "model_qint8.onnx"
OPSET = 17
FP32_MAX_DIFF = 1e-4
# Agreement with fp32 that int8 must reach on the validation texts (cosine of each text's two embeddings).
# Per-channel int8 meets it with room to spare; per-tensor int8, which loses STS-B points, does not
# (docs/benchmarks/int8_recipe.md).
INT8_MIN_MEAN_COSINE = 0.98
INT8_MIN_WORST_COSINE = 0.95
# Traced or converted with a batch of two lengths, so that padding is part of the graph.
TRACE_TEXTS = ("a short text", "a slightly longer text to give the batch two lengths")
VALIDATION_TEXTS = (
    "A man is playing a guitar.",
    "Someone strums an acoustic guitar on stage.",
    "The stock market fell sharply on Monday.",
    "Shares dropped after the central bank raised interest rates.",
    "A cat sleeps on the windowsill in the sun.",
    "Two dogs are running through a snowy field.",
    "How do I reset my password?",
    "what is the capital of france",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Mutations in the BRCA1 gene increase the risk of breast and ovarian cancer.",
    "The committee will meet again next Thursday to discuss the budget.",
    "I don't think that's a good idea, honestly.",
    "",
    "ok",
    "Le chat est sur la table.",
    # Other scripts, emoji and digits: their tokens' activations differ from English words', and int8 ranges with them.
    "東京の天気は晴れです。北京是中国的首都。",
    "Привет, мир! Ünïcödé café 🙂🚀",
    "Order 42 shipped on 2026-12-03 for $3.14",
    (
        "Vaccination reduced measles incidence by more than 90 percent in the cohort studied, "
        "although coverage varied widely between regions and age groups, and outbreaks persisted "
        "where fewer than four in five children had received both doses before school entry."
    ),
    " ".join(["Long documents are truncated at the model's maximum sequence length."] * 40),
)


@dataclass
class ExportReport:
    """What one export wrote and how closely its graph follows the torch model."""

    backend: str
    path: Path
    max_abs_diff: float
    mean_cosine: float
    worst_cosine: float
    seconds: float


class GraphModule(nn.Module):
    """EmbeddingModel.forward plus normalisation as a module the exporter can trace (no Python-side branching)."""

    def __init__(self, model: EmbeddingModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None):
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        pooled = self.model(features)
        normalized = nn.functional.normalize(pooled, p=2, dim=-1) if self.model.normalize else pooled
        return pooled, normalized


def export_onnx(
    encoder: ExportableEncoder, graph_dir: Path, *, int8: bool, config: Int8Config | None = None
) -> list[ExportReport]:
    """Write model.onnx (and model_qint8.onnx when int8) into graph_dir, validate them and record them.

    config defaults to Int8Config.for_cpu(this CPU), since the int8 kernels, and so the safe settings, differ.
    Raises EmbedlabError when the fp32 graph differs from torch by more than FP32_MAX_DIFF or the int8 graph
    misses the agreement bound; a graph that fails is never recorded, so loading never uses it.
    """
    for module in ("onnx", "onnxruntime"):  # the tracer writes with onnx, the fusion and int8 steps use onnxruntime
        require(module, "ONNX export")
    check_onnx_exportable(encoder.model)
    config = config or Int8Config.for_cpu(cpu_info())
    weights = encoder_weights_sha256(encoder)
    graph_dir.mkdir(parents=True, exist_ok=True)
    reference = encode_validation_texts(encoder)
    reports = []
    start = time.perf_counter()
    fused = graph_dir / FP32_FILE
    with atomic_path(fused) as partial:
        _write_fused_fp32(encoder, partial)
        reports.append(validate_graph(encoder, OnnxBackend(partial, "onnx"), reference, start, final=fused))
    if int8:
        start = time.perf_counter()
        with atomic_path(graph_dir / INT8_FILE) as partial:
            quantize_graph(fused, partial, config)
            int8_backend = OnnxBackend(partial, "onnx-int8")
            reports.append(validate_graph(encoder, int8_backend, reference, start, final=graph_dir / INT8_FILE))
    for report in reports:
        extra = {
            "fusion": fusion_model_type(encoder.model),
            "opset": OPSET,
            "int8": asdict(config) if report.backend == "onnx-int8" else None,
        }
        record_report(encoder, graph_dir, weights, report, ("onnx", "onnxruntime"), extra)
    return reports


def record_report(
    encoder: ExportableEncoder, graph_dir: Path, weights: str, report: ExportReport, libraries: tuple[str, ...],
    extra: dict,
) -> None:
    """Record a validated graph in graph_dir's manifest: what it pools, how closely it follows torch, what made it
    (`extra`: the exporter's own settings) and the versions of embedlab, torch, `libraries` and transformers."""
    details = {
        "backend": report.backend,
        "pooling": encoder.model.pooling.strategy,
        "normalize": encoder.model.normalize,
        "max_abs_diff": report.max_abs_diff,
        "mean_cosine": report.mean_cosine,
        "worst_cosine": report.worst_cosine,
        "validation_texts": len(VALIDATION_TEXTS),
        **extra,
        "versions": {name: version(name) for name in ("embedlab", "torch", *libraries, "transformers")},
    }
    record_graph(graph_dir, weights, report.path.name, details)


def _write_fused_fp32(encoder: ExportableEncoder, path: Path) -> None:
    """Trace the encoder in eager attention (whose pattern ONNX Runtime fuses) and fuse the graph."""
    from onnxruntime.transformers.optimizer import optimize_model

    traced = copy.deepcopy(encoder.model).cpu().float()
    if hasattr(traced.transformer, "set_attn_implementation"):
        traced.transformer.set_attn_implementation("eager")
    names = traced.input_names
    sample = encoder.tokenize(list(TRACE_TEXTS))
    dynamic = {name: {0: "batch", 1: "sequence"} for name in names}
    dynamic.update({POOLED_OUTPUT: {0: "batch"}, NORMALIZED_OUTPUT: {0: "batch"}})
    raw = path.with_name(path.name + ".raw")
    config = encoder.model.transformer.config
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about shapes that are dynamic_axes here
            torch.onnx.export(
                GraphModule(traced).eval(),
                tuple(sample[name].cpu() for name in names),
                str(raw),
                input_names=names,
                output_names=[POOLED_OUTPUT, NORMALIZED_OUTPUT],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter's graph is the one ONNX Runtime's fusions recognise
            )
    except Exception as err:  # noqa: BLE001 - the tracer raises anything an unknown architecture provokes
        raw.unlink(missing_ok=True)
        raise EmbedlabError(
            f"the ONNX exporter cannot trace {getattr(config, 'model_type', 'this model')}: {first_line(err)}; "
            f"{ONNX_ALTERNATIVE}"
        ) from None
    try:
        fusion = fusion_model_type(encoder.model)
        if fusion is None:  # an architecture whose graphs the fusions were never checked on: left as traced
            raw.replace(path)
            return
        # opt_level 0: only the portable fusions, so the graph runs on any CPU; sessions add the rest at load.
        fused = optimize_model(
            str(raw),
            model_type=fusion,
            num_heads=getattr(config, "num_attention_heads", 0),
            hidden_size=getattr(config, "hidden_size", 0),
            opt_level=0,
            use_gpu=False,
        )
        fused.save_model_to_file(str(path))
    finally:
        raw.unlink(missing_ok=True)


def encode_validation_texts(encoder: ExportableEncoder) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*longer than max_seq_length")  # the long text is on purpose
        return encoder.encode(list(VALIDATION_TEXTS), normalize=True, show_progress=False)


def validate_graph(
    encoder: ExportableEncoder, backend: Backend, reference: np.ndarray, start: float, final: Path
) -> ExportReport:
    """Encode the validation texts through a graph's backend and compare with torch's embeddings.

    The fp32 graph must match torch within FP32_MAX_DIFF; an int8 one must agree in cosine within the int8 bound.
    """
    previous = encoder.backend
    encoder.backend = backend
    try:
        candidate = encode_validation_texts(encoder)
    finally:
        encoder.backend = previous
    cosines = np.sum(candidate * reference, axis=1)
    report = ExportReport(
        backend=backend.name,
        path=final,
        max_abs_diff=float(np.abs(candidate - reference).max()),
        # The empty text and other zero vectors have cosine 0 to everything; they count as agreeing.
        mean_cosine=float(np.mean(np.where(np.linalg.norm(reference, axis=1) > 0, cosines, 1.0))),
        worst_cosine=float(np.min(np.where(np.linalg.norm(reference, axis=1) > 0, cosines, 1.0))),
        seconds=time.perf_counter() - start,
    )
    if backend.name == "onnx" and report.max_abs_diff > FP32_MAX_DIFF:
        raise EmbedlabError(
            f"the exported graph differs from torch by {report.max_abs_diff:.1e} (> {FP32_MAX_DIFF:.0e})"
        )
    if backend.name != "onnx" and (
        report.mean_cosine < INT8_MIN_MEAN_COSINE or report.worst_cosine < INT8_MIN_WORST_COSINE
    ):
        raise EmbedlabError(
            f"the {backend.name} graph agrees with fp32 at mean cosine {report.mean_cosine:.4f} "
            f"(worst {report.worst_cosine:.4f}), "
            f"below the bound of {INT8_MIN_MEAN_COSINE} (worst {INT8_MIN_WORST_COSINE})"
        )
    return report
