"""Where openvino-int8's time goes, and how close its int8 products run to what OpenVINO's kernels reach here.

    python benchmarks/openvino_profile.py            # encode.md's texts, batch 32, 2 threads

Three measurements in one process, on encode.md's benchmark texts:
1. OpenVINO's per-node counters (PERF_COUNT) over one pass of the length-sorted batches, grouped by operation and
   kernel: how much of the time is int8 matrix products and how much everything around them.
2. The linear layers' achieved int8 rate (multiply-adds of the padded tokens / time in FullyConnected nodes)
   against one int8 product alone (a quantized activation times int8 weights, as NNCF writes them) at a large shape
   and at the model's own shapes: the ceiling the same kernels reach on this CPU.
3. OpenVinoBackend itself: each batch alone (one stream using every thread, as a lone batch runs) against
   embed_batches (OpenVINO's throughput streams, several batches in flight).
A peer running the same OpenVINO kernels on the same products can only be beaten by what runs around them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import torch
from common import REPORTS, measured_at, report_heading, write_report
from encode_throughput import load_texts

from embedlab import Encoder
from embedlab.hardware import as_dict, cpu_info
from embedlab.models.token_batches import length_sorted_batches, pad_encodings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per stream setting")
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts, source = load_texts(800, 200, 40)
    encoder = Encoder.load("minilm", backend="openvino-int8", threads=args.threads)
    batches = padded_batches(encoder, texts, args.batch_size)
    padded_tokens = sum(features["input_ids"].numel() for features in batches)
    feeds = [{name: features[name].numpy() for name in encoder.backend.inputs} for features in batches]
    core = ov.Core()
    graph = core.read_model(str(encoder.backend.graph))
    config = encoder.transformer.config
    linear_macs = padded_tokens * config.num_hidden_layers * (
        4 * config.hidden_size**2 + 2 * config.hidden_size * config.intermediate_size
    )
    nodes = node_times(core, graph, feeds, args.threads)
    total = sum(nodes.values())
    linear_s = sum(s for (kind, _), s in nodes.items() if kind.startswith("FullyConnected"))
    shapes = [
        (4096, 1024, 4096),
        (8192, config.hidden_size, config.hidden_size),
        (8192, config.hidden_size, config.intermediate_size),
        (8192, config.intermediate_size, config.hidden_size),
    ]
    result = {
        "measured_at": measured_at(),
        "cpu": as_dict(cpu_info()),
        "openvino": ov.get_version(),
        "texts": source,
        "batches": len(feeds),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "padded_tokens": padded_tokens,
        "nodes": [
            {"operation": kind, "kernel": kernel, "seconds": s, "share": s / total}
            for (kind, kernel), s in sorted(nodes.items(), key=lambda item: -item[1])
        ],
        "linear_gmac": linear_macs / 1e9,
        "linear_gmac_per_s": linear_macs / linear_s / 1e9,
        "int8_product_alone": [
            {"shape": list(shape), "gmac_per_s": product_rate(core, *shape, args.threads),
             "fp32_torch_gmac_per_s": fp32_product_rate(*shape)}
            for shape in shapes
        ],
        "streams": stream_timings(encoder, batches, args.repeats),
    }
    write_report(args.out, "openvino_profile", result, markdown(result))
    print(markdown(result))


def padded_batches(encoder: Encoder, texts: list[str], batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Encoder.encode's batches: length-sorted and right-padded."""
    encodings = encoder._encodings(texts)
    batches = length_sorted_batches([len(e.ids) for e in encodings], batch_size)
    return [pad_encodings([encodings[i] for i in b], encoder._pad_id, encoder.model.token_type_ids) for b in batches]


def node_times(core: ov.Core, graph: ov.Model, feeds: list[dict], threads: int) -> Counter:
    """Seconds per (operation, kernel) over one pass after a warm-up, from OpenVINO's own counters."""
    compiled = core.compile_model(graph, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True})
    request = compiled.create_infer_request()
    times: Counter = Counter()
    for warm_up in (True, False):
        for feed in feeds:
            request.infer(feed)
            if not warm_up:
                for node in request.profiling_info:
                    times[(node.node_type, node.exec_type)] += node.real_time.total_seconds()
    return times


def product_rate(core: ov.Core, m: int, k: int, n: int, threads: int) -> float:
    """GMAC/s of one int8 product (m x k activations, n x k int8 weights) in its FullyConnected node, best of 5."""
    x = ops.parameter([m, k], np.float32)
    low, high = (ops.constant(np.array(v, dtype=np.float32)) for v in (-4.0, 4.0))
    activations = ops.fake_quantize(x, low, high, low, high, 256)
    weights = np.random.default_rng(0).integers(-127, 128, (n, k)).astype(np.int8)
    scale = ops.constant(np.full((n, 1), 0.01, dtype=np.float32))
    product = ops.matmul(activations, ops.multiply(ops.convert(ops.constant(weights), "f32"), scale), False, True)
    settings = {"INFERENCE_NUM_THREADS": threads, "PERF_COUNT": True}
    compiled = core.compile_model(ov.Model([product], [x]), "CPU", settings)
    request = compiled.create_infer_request()
    feed = {0: np.random.default_rng(1).uniform(-4, 4, (m, k)).astype(np.float32)}
    request.infer(feed)
    seconds = []
    for _ in range(5):
        request.infer(feed)
        seconds.append(sum(
            node.real_time.total_seconds() for node in request.profiling_info
            if node.node_type.startswith("FullyConnected")
        ))  # fmt: skip
    return m * k * n / min(seconds) / 1e9


def fp32_product_rate(m: int, k: int, n: int) -> float:
    """GMAC/s of the same product in fp32 torch (what sentence-transformers' linear layers run), best of 5: the
    rate int8 must beat by the speed-up asked of it."""
    generator = torch.Generator().manual_seed(0)
    x, weight = torch.randn(m, k, generator=generator), torch.randn(n, k, generator=generator)
    torch.nn.functional.linear(x, weight)
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        torch.nn.functional.linear(x, weight)
        seconds.append(time.perf_counter() - start)
    return m * k * n / min(seconds) / 1e9


def stream_timings(encoder: Encoder, batches: list[dict[str, torch.Tensor]], repeats: int) -> dict:
    """Seconds for all batches through the backend itself: one at a time (its one-stream compilation, as a lone
    batch runs) against embed_batches (its throughput streams), alternating."""
    backend, model = encoder.backend, encoder.model
    runs = {
        "one stream": lambda: [backend.embed(model, features, 0) for features in batches],
        "throughput streams": lambda: list(backend.embed_batches(model, batches, 0)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats + 1):  # the first round warms up (and compiles the streams)
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {
        "streams": backend._streamed.get_property("NUM_STREAMS"),
        "requests_in_flight": backend._streamed.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"),
        "median_s": {name: statistics.median(s[1:]) for name, s in seconds.items()},
    }


def markdown(result: dict) -> str:
    shares: Counter = Counter()
    for node in result["nodes"]:
        shares[node["operation"]] += node["share"]
    int8_share = sum(n["share"] for n in result["nodes"] if n["kernel"].lower().endswith("i8"))
    lines = report_heading("openvino-int8: where the time goes and what limits it")
    lines += [
        (
            f"Run {result['measured_at']}, OpenVINO {result['openvino']}: {result['texts']}, "
            f"{result['batches']} length-sorted batches of {result['batch_size']} "
            f"({result['padded_tokens']:,} padded tokens), {result['threads']} threads, "
            "`python benchmarks/openvino_profile.py`."
        ),
        "",
        "**Time per operation** (OpenVINO's per-node counters, one pass after a warm-up, one stream):",
        "",
        "| operation | kernels | share of time |",
        "|---|---|---:|",
    ]
    for operation, share in shares.most_common(10):
        kernels = sorted({n["kernel"] for n in result["nodes"] if n["operation"] == operation})
        lines.append(f"| {operation} | {', '.join(kernels)} | {share:.1%} |")
    streams = result["streams"]
    one, many = streams["median_s"]["one stream"], streams["median_s"]["throughput streams"]
    lines += [
        "",
        f"Nodes running int8 kernels: **{int8_share:.0%}** of the time.",
        "",
        (
            f"**Linear layers**: {result['linear_gmac']:.0f} G multiply-adds at "
            f"**{result['linear_gmac_per_s']:.0f} GMAC/s** in their FullyConnected nodes. One int8 product alone, "
            "in the same kernels, and the same product in fp32 torch:"
        ),
        "",
        "| shape (tokens x in x out) | int8 GMAC/s | fp32 torch GMAC/s |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {' x '.join(map(str, p['shape']))} | {p['gmac_per_s']:.0f} | {p['fp32_torch_gmac_per_s']:.0f} |"
        for p in result["int8_product_alone"]
    ]
    lines += [
        "",
        (
            f"**Streams**: all batches on one stream with {result['threads']} threads {one:.2f} s; on "
            f"{streams['streams']} throughput streams with {streams['requests_in_flight']} batches in flight "
            f"{many:.2f} s (**{one / many:.2f}x**; medians)."
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
