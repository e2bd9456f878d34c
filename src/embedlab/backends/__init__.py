"""Inference backends: the same model run by PyTorch (fp32, bf16 or fp16), ONNX Runtime (fp32 or dynamic int8)
or OpenVINO (static int8).

`load_backend` turns a backend name (or `auto`) into the object `Encoder.encode` calls once per batch.
"""

from __future__ import annotations

import torch

from embedlab.backends.auto import AUTO, BackendChoice, choose_backend
from embedlab.backends.base import Backend, ExportableEncoder
from embedlab.backends.support import check_fp16, check_onnx_exportable, onnx_refusal
from embedlab.backends.torch_backend import TorchBackend, TorchHalfBackend, check_native_bf16, has_native_bf16
from embedlab.errors import EmbedlabError, check_positive_integer
from embedlab.extras import installed, require
from embedlab.hardware import cpu_info, gpu_has_bf16

BACKENDS = ("torch", "torch-bf16", "torch-fp16", "onnx", "onnx-int8", "openvino-int8")
ONNX_BACKENDS = ("onnx", "onnx-int8")
# Backends that run an exported graph on the CPU, not the torch model.
GRAPH_BACKENDS = (*ONNX_BACKENDS, "openvino-int8")

__all__ = [
    "AUTO",
    "BACKENDS",
    "GRAPH_BACKENDS",
    "Backend",
    "BackendChoice",
    "ExportableEncoder",
    "check_backend_device",
    "check_backend_name",
    "choose_backend",
    "load_backend",
    "openvino_installed",
]


def openvino_installed() -> bool:
    """Whether openvino-int8 can run here: OpenVINO runs its model and NNCF makes it (the `openvino` extra)."""
    return installed("openvino") and installed("nncf")


def check_backend_name(name: str) -> str:
    """The name itself when it is a backend or `auto`; a one-line error listing the choices otherwise."""
    if name not in (*BACKENDS, AUTO):
        raise EmbedlabError(f"unknown backend {name!r}; choose one of {', '.join((*BACKENDS, AUTO))}")
    return name


def load_backend(encoder: ExportableEncoder, name: str, threads: int | None = None) -> Backend:
    """The backend `name` for this encoder, its ONNX graph found or exported; `auto` picks by CPU features.

    threads sets torch's (process-wide) thread count, or the ONNX Runtime session's.
    """
    check_backend_name(name)
    check_positive_integer("threads", threads, optional=True)
    if name == AUTO:
        return _load_auto(encoder, threads)
    check_backend_device(name, encoder.device)
    if name in GRAPH_BACKENDS:
        require("openvino" if name == "openvino-int8" else "onnxruntime", f"backend {name}")
        from embedlab.backends.graphs import graph_for

        check_onnx_exportable(encoder.model)  # before hashing weights or tracing anything
        if name == "openvino-int8":
            from embedlab.backends.openvino_backend import OpenVinoBackend

            return OpenVinoBackend(graph_for(encoder, name), name, threads)
        from embedlab.backends.onnx_backend import OnnxBackend

        return OnnxBackend(graph_for(encoder, name), name, threads)
    if threads is not None:
        torch.set_num_threads(threads)
    if name == "torch-bf16":
        return TorchHalfBackend()
    if name == "torch-fp16":
        check_fp16(encoder.model)
        return TorchHalfBackend(name="torch-fp16", dtype=torch.float16)
    return TorchBackend()


def check_backend_device(name: str, device: torch.device) -> None:
    """Refuse a backend on a device where it cannot run, or would only emulate its precision, in one line."""
    if name in GRAPH_BACKENDS and device.type != "cpu":
        raise EmbedlabError(f"backend {name} runs on the CPU; load the model with device='cpu'")
    if name == "torch-bf16":
        if device.type == "cpu":
            check_native_bf16(cpu_info())
        elif device.type == "cuda" and not gpu_has_bf16():
            raise EmbedlabError("this GPU has no bf16 arithmetic: use backend torch-fp16 or auto")
    if name == "torch-fp16" and device.type == "cpu":
        raise EmbedlabError("backend torch-fp16 runs on a GPU; on the CPU use torch-bf16, onnx-int8 or auto")


def _load_auto(encoder: ExportableEncoder, threads: int | None) -> Backend:
    """The backend auto chooses; when that one cannot serve this model, the next safer one, saying why."""
    cpu = cpu_info()
    choice = choose_backend(
        cpu,
        onnx_available=installed("onnxruntime"),
        openvino_available=openvino_installed(),
        device=encoder.device.type,
        gpu_bf16=_gpu_bf16(encoder),
    )
    reason, name = choice.reason, choice.name
    # Past ONNX, the fastest torch backend this CPU runs natively.
    torch_fallback = "torch-bf16" if has_native_bf16(cpu) else "torch"
    refusal = onnx_refusal(encoder.model) if name in GRAPH_BACKENDS else None
    if refusal is not None:  # known before any export: straight to torch, not through a doomed int8 then fp32 try
        name = torch_fallback
        reason = f"{reason}; but {refusal}, so {name}"
    # int8 may miss its quality bound for a model, an unknown architecture may fail to trace, and some
    # families overflow fp16 (auto's choice on a GPU without bf16).
    fallbacks = {"openvino-int8": torch_fallback, "onnx-int8": "onnx", "onnx": torch_fallback, "torch-fp16": "torch"}
    while True:
        try:
            backend = load_backend(encoder, name, threads)
            break
        except EmbedlabError as err:
            if name not in fallbacks:
                raise
            name = fallbacks[name]
            reason = f"{reason}; but {err}, so {name}"
    backend.reason = reason
    return backend


def _gpu_bf16(encoder: ExportableEncoder) -> bool:
    return encoder.device.type == "cuda" and gpu_has_bf16()
