"""Where bf16 encoding time goes on this CPU: MiniLM's products and attention, each by every route torch offers.

Backs the "why not 4x" analysis in docs/inference.md: if a faster product or attention route existed it would
show here. Routes alternate within each round (this machine is shared); medians of the rounds. Writes
docs/benchmarks/kernels.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from common import REPORTS, measured_at, report_heading, write_report

from embedlab.hardware import as_dict, cpu_info

BATCH, HEADS, HEAD_DIM, HIDDEN = 32, 12, 32, 384  # all-MiniLM-L6-v2 at batch 32
PRODUCTS = ((HIDDEN, 3 * HIDDEN), (HIDDEN, 4 * HIDDEN), (4 * HIDDEN, HIDDEN))  # (in, out): QKV, FFN up, FFN down


def product_routes(rows: int, inputs: int, outputs: int) -> tuple[float, dict[str, Callable[[], object]]]:
    x = torch.randn(rows, inputs, dtype=torch.bfloat16)
    weight, bias = torch.randn(outputs, inputs, dtype=torch.bfloat16), torch.randn(outputs, dtype=torch.bfloat16)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight)
    x32, weight32, bias32 = x.float(), weight.float(), bias.float()
    routes = {
        "oneDNN fused, bias in (ours)": lambda: torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], ""),
        "F.linear with bias": lambda: F.linear(x, weight, bias),
        "torch.mm, no bias": lambda: torch.mm(x, weight.t()),
        "fp32 F.linear with bias (for scale)": lambda: F.linear(x32, weight32, bias32),
    }
    return 2.0 * rows * inputs * outputs, routes


def attention_routes(length: int) -> tuple[float, dict[str, Callable[[], object]]]:
    q, k, v = (torch.randn(BATCH, HEADS, length, HEAD_DIM, dtype=torch.bfloat16) for _ in range(3))
    q32, k32, v32 = q.float(), k.float(), v.float()
    q16, k16, v16 = q.half(), k.half(), v.half()
    scores = torch.randn(BATCH * HEADS * length * length)
    exps = torch.empty_like(scores)  # written in place: a fresh 100 MB output per call would time page faults

    def materialised() -> torch.Tensor:
        weights = (torch.matmul(q, k.transpose(-1, -2)) * HEAD_DIM**-0.5).softmax(-1)
        return torch.matmul(weights, v)

    routes = {
        "SDPA bf16 (ours)": lambda: F.scaled_dot_product_attention(q, k, v),
        "SDPA fp32": lambda: F.scaled_dot_product_attention(q32, k32, v32),
        "SDPA fp16": lambda: F.scaled_dot_product_attention(q16, k16, v16),
        "scores materialised, bf16": materialised,
        "exp over the softmax's entries alone (fp32)": lambda: torch.exp(scores, out=exps),
    }
    return 4.0 * BATCH * HEADS * length * length * HEAD_DIM, routes


def seconds_per_call(fn: Callable[[], object], calls: int = 5) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def measure(cases: dict[str, tuple[float, dict]], rounds: int) -> list[dict]:
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(rounds + 1):  # round 0 warms every route up
        for case, (_, routes) in cases.items():
            for route, fn in routes.items():
                elapsed = seconds_per_call(fn)
                if round_:
                    times.setdefault((case, route), []).append(elapsed)
    rows = []
    for (case, route), values in times.items():
        median = statistics.median(values)
        rows.append({"case": case, "route": route, "ms": 1e3 * median, "gflops": cases[case][0] / median / 1e9,
                     "spread": (max(values) - min(values)) / median})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPORTS)
    args = parser.parse_args()
    cases = {f"product {rows} x {i} -> {o}": product_routes(rows, i, o)
             for rows in (BATCH * 16, BATCH * 64, BATCH * 256) for i, o in PRODUCTS}
    cases.update({f"attention, {length} tokens": attention_routes(length) for length in (32, 128, 256)})
    rows = measure(cases, args.rounds)
    report = {"date": measured_at(), "cpu": as_dict(cpu_info()),
              "threads": torch.get_num_threads(), "rounds": args.rounds, "rows": rows}
    lines = [*report_heading("bf16 kernels: products and attention, every route"),
             (f"Run {report['date']} (`benchmarks/bf16_kernels.py`): MiniLM's shapes at batch {BATCH} ({HEADS} "
              f"heads of {HEAD_DIM}); product rows are tokens in the batch. Median of {args.rounds} rounds, routes "
              "alternating; "
              "GFLOP/s counts the products' (or attention's two products') arithmetic; the exp row counts "
              "attention's, to compare."), "",
             "| case | route | ms | GFLOP/s | spread |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['route']} | {r['ms']:.2f} | {r['gflops']:,.0f} | {r['spread']:.0%} |" for r in rows]
    write_report(args.out, "kernels", report, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
