"""Where a model runs: the device asked for (checked to exist), else the GPU when one is present, else the CPU.

Loading, `Encoder.encode(device=)` and training all pick their device here, so a missing GPU or a misspelt
device is one clear line wherever it is named.
"""

from __future__ import annotations

import torch
from torch import nn

from embedlab.backends import GRAPH_BACKENDS, check_backend_device, load_backend
from embedlab.backends.base import Backend
from embedlab.errors import EmbedlabError

DEVICE_TYPES = ("cpu", "cuda", "mps")


def select_device(device: str | torch.device | None, backend: str = "torch") -> torch.device:
    """The device asked for, else the GPU when one is present and the backend runs there, else the CPU.

    A bare "cuda" means the current GPU (cuda:0 unless torch.cuda.set_device said otherwise) and "mps" is mps:0,
    as their tensors report them, so that one device has one name and comparing devices works.
    """
    if device is None:
        # The graph backends (ONNX, OpenVINO) run on the CPU; every torch backend (and auto, which picks one of
        # them) runs on a GPU.
        on_gpu = torch.cuda.is_available() and backend not in GRAPH_BACKENDS
        return torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        chosen = None
    if chosen is None or chosen.type not in DEVICE_TYPES:
        raise EmbedlabError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps")
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise EmbedlabError(f"device {device} asked for, but this torch ({torch.__version__}) sees no CUDA GPU")
        index = torch.cuda.current_device() if chosen.index is None else chosen.index
        if index >= torch.cuda.device_count():
            raise EmbedlabError(f"device {device} asked for, but there are {torch.cuda.device_count()} CUDA GPUs")
        return torch.device("cuda", index)
    if chosen.type == "mps":
        if not torch.backends.mps.is_available():
            raise EmbedlabError(f"device {device} asked for, but this machine has no Apple GPU (MPS) torch can use")
        return torch.device("mps", 0)  # the one Apple GPU, named as its tensors name it
    return chosen


def move_encoder(encoder: nn.Module, device: str | torch.device) -> None:
    """Move an encoder's model to `device` for good, as sentence-transformers' encode(device=) does.

    Its backend (`encoder.backend`) is checked for the new device first, so a refused move changes nothing:
    ONNX stays on the CPU, fp16 needs a GPU, bf16 native arithmetic. The backend is then remade there.
    """
    backend: Backend = encoder.backend
    target = select_device(device, backend.name)
    if target == encoder.device:
        return
    check_backend_device(backend.name, target)
    encoder.to(target)
    encoder.backend = load_backend(encoder, backend.name)
    # auto's choice keeps its reason: the backend is the same one, only on another device.
    encoder.backend.reason = backend.reason
