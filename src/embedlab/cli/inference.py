"""`embedlab export` and `embedlab distill`: ahead-of-time artefacts for fast CPU inference.

Both write a model directory that `Encoder.load` / `load_model` read back; see docs/inference.md.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from embedlab.cli.common import MODEL_HELP, console
from embedlab.cli.outputs import output_folder


def export(
    model: str = typer.Argument("minilm", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write (a copy of MODEL with onnx/ inside); "
                             "may be MODEL itself.",
                             callback=output_folder),
    backend: str = typer.Option(
        "onnx",
        help="onnx (fp32 graph), onnx-int8 (the fp32 graph and its dynamic-int8 version) or openvino-int8 "
        "(static int8 OpenVINO model, calibrated on bundled texts).",
    ),
) -> None:
    """Export MODEL to ONNX or OpenVINO (transformer + pooling + normalisation), validated against torch."""
    from embedlab.models.export import export_model

    reports = export_model(model, out, backend)
    table = Table(title=f"export of {model}")
    for column in ("backend", "graph", "max |diff| vs torch", "mean cosine", "worst cosine", "seconds"):
        table.add_column(column, justify="left" if column in ("backend", "graph") else "right")
    for r in reports:
        table.add_row(
            r.backend,
            str(r.path),
            f"{r.max_abs_diff:.2e}",
            f"{r.mean_cosine:.5f}",
            f"{r.worst_cosine:.5f}",
            f"{r.seconds:.1f}",
        )
    console.print(table)
    console.print(
        f"load it with Encoder.load({str(out)!r}, backend={reports[-1].backend!r}) or --backend {reports[-1].backend}"
    )


def distill(
    model: str = typer.Argument("minilm", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Directory for the static model (safetensors + tokenizer.json).",
                             callback=output_folder),
    dim: int = typer.Option(256, "--dim", help="Dimensions kept by the PCA."),
    word_frequencies: str | None = typer.Option(
        None, "--word-frequencies", help="Words in frequency order for the SIF weights: 'glove' (data root) or a file."
    ),
    sif: float | None = typer.Option(
        None, "--sif", help="SIF coefficient a (default 1e-4, or 3e-4 with --word-frequencies)."
    ),
    vectors: str = typer.Option(
        "token",
        "--vectors",
        help="A token's row: 'token' (its own output vector) or 'pooled' (model2vec's: the pooled [CLS] token [SEP]).",
    ),
    backend: str = typer.Option(
        "torch",
        "--backend",
        "-b",
        help="Backend that runs the teacher over the vocabulary (any for --vectors pooled; torch or torch-bf16 "
        "for token).",
    ),
) -> None:
    """Distill MODEL into a static model: every token through the transformer, PCA, SIF weights."""
    from embedlab.errors import EmbedlabError
    from embedlab.models.distill import DistillConfig, distill_model
    from embedlab.models.loading import glove_path

    frequencies = (
        glove_path() if word_frequencies == "glove" else (Path(word_frequencies) if word_frequencies else None)
    )
    if frequencies is not None and not frequencies.is_file():
        raise EmbedlabError(f"word-frequency list not found: {frequencies}")
    path = distill_model(
        model, out, DistillConfig(dim=dim, sif_coefficient=sif, word_frequencies=frequencies, vectors=vectors), backend
    )
    console.print(f"wrote a {dim}-dimensional static model to {path}; load it like any model (-m {path})")


BackendOption = typer.Option(
    "torch",
    "--backend",
    "-b",
    help="torch (fp32), torch-bf16, torch-fp16 (GPU), onnx, onnx-int8, openvino-int8 or auto (picked by CPU "
    "features or GPU).",
)
ThreadsOption = typer.Option(None, "--threads", help="Threads for the backend (default: torch's, usually the cores).")
DeviceOption = typer.Option(
    None, "--device", help="cpu, cuda, cuda:N or mps (default: the GPU when torch sees one and the backend runs there)."
)
MaxTokensOption = typer.Option(None, "--max-tokens", help="Cap on padded tokens per batch (batch x longest text).")


def show_backends() -> None:
    """Print the CPU features auto reads, each backend's availability, and auto's choice with its reason."""
    from embedlab.backends import BACKENDS, ONNX_BACKENDS, choose_backend, openvino_installed
    from embedlab.backends.fused_linear import onednn_available
    from embedlab.backends.int8 import has_fast_int8
    from embedlab.backends.torch_backend import has_native_bf16
    from embedlab.extras import installed
    from embedlab.hardware import cpu_info, report_header

    cpu = cpu_info()
    console.print(report_header(cpu).replace("**", ""), highlight=False)
    fused = "oneDNN fused linear layers" if onednn_available() else "plain linear layers (no oneDNN fused ops here)"
    notes = {
        "torch": "always (fp32 reference)",
        "torch-bf16": f"native bf16, {fused}"
        if has_native_bf16(cpu)
        else "refused: no native bf16 (emulated is slower than fp32)",
        "torch-fp16": "GPU only",
        "onnx": "fp32 ONNX Runtime, fused attention",
        "onnx-int8": "fast (VNNI/AMX int8 dot products)"
        if has_fast_int8(cpu)
        else "no VNNI/AMX: 7-bit weights, 16-bit sums",
        "openvino-int8": "static int8, fast (VNNI/AMX int8 dot products)"
        if has_fast_int8(cpu)
        else "no VNNI/AMX: 7-bit weights, no faster than fp32 where measured (AVX2)",
    }
    onnx = installed("onnxruntime")
    if not onnx:
        notes.update(dict.fromkeys(ONNX_BACKENDS, escape("not installed: pip install 'embedlab[onnx]'")))
    openvino = openvino_installed()
    if not openvino:
        notes["openvino-int8"] = escape("not installed: pip install 'embedlab[openvino]'")
    table = Table(title="backends on this CPU")
    table.add_column("backend")
    table.add_column("here")
    for name in BACKENDS:
        table.add_row(name, notes[name])
    console.print(table)
    choice = choose_backend(cpu, onnx_available=onnx, openvino_available=openvino)
    console.print(f"auto chooses [bold]{choice.name}[/bold]: {choice.reason}", highlight=False)
