"""Dynamic or static (calibrated) int8 for the ONNX graph: speed and agreement with fp32, in one interleaved run.

The issue asks for static int8 if it beats dynamic at equal quality. Static graphs are calibrated on STS-B *train*
sentences and SciFact abstracts, never on the test texts; the fused Attention op has no static (QDQ) form, so its
projection is either left fp32 or dynamically quantized on top. Writes docs/benchmarks/int8_recipe.{json,md}.
"""

from __future__ import annotations

import argparse
import logging
import statistics
from collections.abc import Iterator
from pathlib import Path

from common import REPORTS, ROOT, measured_at, report_heading, write_report
from encode_throughput import agreement, load_texts, read_jsonl
from timing import timed

from embedlab import Encoder
from embedlab.backends.export import FP32_FILE, INT8_FILE, export_onnx
from embedlab.backends.int8 import Int8Config, quantize_graph
from embedlab.backends.onnx_backend import OnnxBackend
from embedlab.data import dataset_path
from embedlab.evaluation.sts import evaluate_sts
from embedlab.hardware import as_dict, cpu_info

DEFAULT_WORK = ROOT / "runs" / "int8_recipe"


def calibration_texts(n: int) -> list[str]:
    """STS-B train sentences and SciFact abstracts, half each: short and long texts, none from a test split."""
    sts, scifact = dataset_path("sts", "stsb", "train.jsonl"), dataset_path("beir", "scifact", "corpus.jsonl")
    if sts is None or scifact is None:
        raise SystemExit("needs STS-B and SciFact under the data root (EMBEDLAB_DATA)")
    sentences = [row["sentence1"] for row in read_jsonl(sts, n // 2)]
    # The corpus's tail: the throughput texts below take its first abstracts.
    abstracts = [f"{row['title']} {row['text']}" for row in read_jsonl(scifact, 5000)[-(n - n // 2):]]
    return sentences + abstracts


class Feeds:
    """ONNX Runtime's calibration reader: the tokenized calibration texts, one batch of 32 at a time."""

    def __init__(self, encoder: Encoder, texts: list[str], inputs: list[str]) -> None:
        batches = [texts[i : i + 32] for i in range(0, len(texts), 32)]
        self.batches: Iterator[dict] = iter(
            [{k: v.numpy() for k, v in encoder.tokenize(b).items() if k in inputs} for b in batches]
        )

    def get_next(self) -> dict | None:
        return next(self.batches, None)


def quantize_static_graph(encoder: Encoder, source: Path, target: Path, texts: list[str], moving_average: bool,
                          dynamic_attention: bool) -> None:
    """Static QDQ int8 of the graph's MatMuls (per-channel weights, uint8 activations calibrated on `texts`).

    Activation ranges are the min and max over the calibration batches, or their average over the batches
    (moving_average), which clips rare outliers the way percentile calibration would.
    """
    import onnxruntime as ort
    from onnx import TensorProto
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Without shapes on the fused ops' outputs the quantizer cannot tell they are float and leaves every
    # activation unquantized (weights only, run in fp32); ONNX Runtime's symbolic shape inference knows them.
    shaped = target.with_name(target.stem + ".shaped.onnx")
    quant_pre_process(str(source), str(shaped), skip_optimization=True)
    source = shaped
    inputs = [i.name for i in ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).get_inputs()]
    staged = target.with_name(target.stem + ".static.onnx") if dynamic_attention else target
    quantize_static(
        str(source), str(staged), Feeds(encoder, texts, inputs), quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"], per_channel=True, activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT,
                       "CalibMovingAverage": moving_average},
    )
    if dynamic_attention:
        quantize_graph(staged, target, Int8Config(op_types=("Attention",)))  # onnx-int8's own dynamic recipe
        staged.unlink()
    shaped.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calibration", type=int, default=256, help="calibration texts (half short, half long)")
    parser.add_argument("--out", type=Path, default=REPORTS)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the quantizer's advice about pre-processing, once per graph
    encoder = Encoder.load("minilm", device="cpu")
    graphs = args.work / "onnx"
    if not (graphs / INT8_FILE).is_file():
        export_onnx(encoder, graphs, int8=True)
    calibration = calibration_texts(args.calibration)
    variants = {"onnx fp32": graphs / FP32_FILE, "dynamic int8 (the default)": graphs / INT8_FILE}
    for moving_average in (False, True):
        for dynamic_attention in (False, True):
            ranges = "mean of batch min/max" if moving_average else "min/max"
            name = f"static, {ranges}, attention " + ("dynamic int8" if dynamic_attention else "fp32")
            path = graphs / (f"static_{'mean' if moving_average else 'minmax'}_"
                             f"{'dyn' if dynamic_attention else 'fp32'}_attention.onnx")
            if not path.is_file():
                quantize_static_graph(encoder, graphs / FP32_FILE, path, calibration, moving_average,
                                      dynamic_attention)
            variants[name] = path
    texts, source = load_texts(800, 200, 40)
    backends = {name: OnnxBackend(path, name) for name, path in variants.items()}
    reference = encoder.encode(texts, show_progress=False)
    seconds = {name: [] for name in variants}
    outputs = {}
    for _ in range(args.repeats + 1):  # the first round warms every session up and is not counted
        for name, backend in backends.items():
            encoder.backend = backend
            wall, _cpu, outputs[name] = timed(lambda batch: encoder.encode(batch, show_progress=False), texts)
            seconds[name].append(wall)
    rows = []
    sts = dataset_path("sts", "stsb", "test.jsonl")
    for name, backend in backends.items():
        encoder.backend = backend
        cosines = agreement(outputs[name], reference)
        times = seconds[name][1:]
        rows.append({"name": name, "median_s": statistics.median(times),
                     "spread": (max(times) - min(times)) / statistics.median(times),
                     "stsb_spearman": 100 * evaluate_sts(encoder, sts).metrics["spearman"],
                     "mean_cosine": float(cosines.mean()), "worst_cosine": float(cosines.min())})
        print(rows[-1], flush=True)
    fp32 = rows[0]["median_s"]
    for row in rows:
        row["speed_vs_onnx_fp32"] = fp32 / row["median_s"]
    report = {"date": measured_at(), "cpu": as_dict(cpu_info()),
              "texts": source, "calibration_texts": len(calibration), "repeats": args.repeats, "rows": rows}
    lines = [*report_heading("int8 recipe: dynamic or static"),
             (f"Run {report['date']} (`benchmarks/int8_recipe.py`): all-MiniLM-L6-v2, {source}, batch 32, "
              f"median of {args.repeats} interleaved runs; static graphs calibrated on {len(calibration)} STS-B train "
              "sentences and SciFact abstracts. STS-B test Spearman x100; cosine to the torch fp32 embeddings."), "",
             "| graph | speed vs onnx fp32 | spread | STS-B | cosine mean / worst |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['name']} | {r['speed_vs_onnx_fp32']:.2f}x | {100 * r['spread']:.0f}% | {r['stsb_spearman']:.2f} | "
              f"{r['mean_cosine']:.4f} / {r['worst_cosine']:.4f} |" for r in rows]
    write_report(args.out, "int8_recipe", report, "\n".join(lines))
    print(f"wrote {args.out / 'int8_recipe.md'}")


if __name__ == "__main__":
    main()
