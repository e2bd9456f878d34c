"""Layers after pooling, in sentence-transformers' format: Dense (linear + activation) and LayerNorm.

LaBSE, sentence-t5/GTR and EmbeddingGemma project the pooled vector through Dense modules; some models
normalise it with a LayerNorm. Both read and write the directories sentence-transformers uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from embedlab.errors import ModelLoadError
from embedlab.models.model_files import first_line
from embedlab.models.st_format import read_json

WEIGHTS_FILE = "model.safetensors"
PICKLE_FILE = "pytorch_model.bin"
# Activations are named by import path in a config; only torch.nn's own module classes are built, so a config
# can never make loading import or run code of its choosing.
def activation_from_name(name: str, where: str | Path) -> nn.Module:
    """torch.nn.Tanh() for "torch.nn.modules.activation.Tanh" (or "torch.nn.Tanh"); a one-line error for anything
    that is not a torch.nn module class buildable without arguments. `where` names the config in the error."""
    found = getattr(nn, name.rsplit(".", 1)[-1], None) if name.startswith("torch.nn.") else None
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise ModelLoadError(
            f"{where} names activation {name!r}, which is not a torch.nn module class; embedlab builds only "
            "torch.nn modules"
        )
    try:
        return found()
    except Exception as err:  # noqa: BLE001 - a class needing arguments cannot be rebuilt from its name
        raise ModelLoadError(f"activation {name!r} cannot be built without arguments: {first_line(err)}") from None


def activation_name(activation: nn.Module) -> str:
    return f"{type(activation).__module__}.{type(activation).__name__}"


class Dense(nn.Module):
    """Linear(in, out) then an activation (Tanh by default, as in sentence-transformers)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: nn.Module | None = None):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.activation = nn.Tanh() if activation is None else activation

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def forward(self, embeddings: Tensor) -> Tensor:
        return self.activation(self.linear(embeddings))

    def config(self) -> dict:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.linear.bias is not None,
            "activation_function": activation_name(self.activation),
        }


class LayerNorm(nn.Module):
    """Layer normalisation of the pooled vector (weights and bias learned)."""

    def __init__(self, dimension: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dimension)

    @property
    def in_features(self) -> int:
        return self.norm.normalized_shape[0]

    out_features = in_features

    def forward(self, embeddings: Tensor) -> Tensor:
        return self.norm(embeddings)

    def config(self) -> dict:
        return {"dimension": self.in_features}


HEAD_KINDS = {"dense": "Dense", "layernorm": "LayerNorm"}


def load_head_module(kind: str, directory: Path, in_features: int, *, allow_pickle: bool) -> Dense | LayerNorm:
    """A Dense or LayerNorm module from its directory, checked to take `in_features` (the width before it)."""
    config_path = directory / "config.json"
    config = read_json(config_path)
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path} is not a JSON object")
    try:
        if kind == "dense":
            activation = config.get("activation_function", "torch.nn.modules.activation.Tanh")
            module = Dense(
                int(config["in_features"]),
                int(config["out_features"]),
                bool(config.get("bias", True)),
                activation_from_name(str(activation), config_path),
            )
        else:
            module = LayerNorm(int(config["dimension"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ModelLoadError(f"{config_path} lacks a valid {err}") from None
    if module.in_features != in_features:
        raise ModelLoadError(
            f"{directory.name} takes {module.in_features}-dim vectors but the module before it gives {in_features}"
        )
    state = _read_weights(directory, allow_pickle)
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ModelLoadError(f"the weights in {directory} do not fit its config: {first_line(err)}") from None
    return module


def load_head(modules: list[tuple[str, Path]], width: int, *, allow_pickle: bool) -> list[Dense | LayerNorm]:
    """The modules after pooling, each checked to take the width of the one before (`width`: the pooled size)."""
    head: list[Dense | LayerNorm] = []
    for kind, directory in modules:
        before = head[-1].out_features if head else width
        head.append(load_head_module(kind, directory, before, allow_pickle=allow_pickle))
    return head


def save_head_module(module: Dense | LayerNorm, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(module.config(), indent=2), encoding="utf-8")
    state = {k: v.detach().float().cpu().contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE))


def _read_weights(directory: Path, allow_pickle: bool) -> dict[str, Tensor]:
    path = directory / WEIGHTS_FILE
    if path.is_file():
        try:
            return load_file(str(path))
        except Exception as err:  # noqa: BLE001 - safetensors reports corruption in several ways
            raise ModelLoadError(f"could not read {path}: {first_line(err)}") from None
    if (directory / PICKLE_FILE).is_file():
        if not allow_pickle:
            raise ModelLoadError(
                f"{directory} holds only pickle weights ({PICKLE_FILE}), which can run code when loaded; "
                "pass allow_pickle=True (--allow-pickle) if you trust the source"
            )
        return torch.load(directory / PICKLE_FILE, map_location="cpu", weights_only=True)
    raise ModelLoadError(f"{directory} holds no weights (expected {WEIGHTS_FILE})")
