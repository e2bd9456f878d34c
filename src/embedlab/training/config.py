"""Training configuration: dataclasses that a YAML or TOML file fills, field for field.

`embedlab train CONFIG` is the whole interface, and every field is also a Python argument.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedlab.errors import EmbedlabError, check_positive_integers

DATA_KINDS = ("auto", "pairs", "triplets", "scored", "nli", "beir", "simcse", "ict")
LOSSES = ("infonce", "cached_infonce", "cosent", "softmax", "triplet", "bce")
# bi_encoder: one Encoder; two_tower: untied query and document encoders; cross_encoder: a pair scorer;
# sparse: a SPLADE SparseEncoder (a model without an MLM head starts from SparseEncoder.from_dense).
# multi_vector: a late-interaction (ColBERT) MultiVectorEncoder, InfoNCE over MaxSim.
ARCHITECTURES = ("bi_encoder", "two_tower", "cross_encoder", "sparse", "multi_vector")
INFERENCE_FREE_SIDES = ("query", "document")
# Losses that read anchors as queries and the rest as documents, so they can train asymmetric models.
QUERY_DOCUMENT_LOSSES = ("infonce", "triplet")
CROSS_ENCODER_LOSSES = ("infonce", "bce")
PROMPT_NAMES = ("query", "document")
MIXTURES = ("proportional", "round_robin")


@dataclass
class DatasetSpec:
    """One training dataset: a file (JSONL, Parquet, Arrow, CSV) or folder (BEIR, `datasets` save_to_disk);
    relative paths are tried under the data root too."""

    path: str
    kind: str = "auto"
    # SimCSE / inverse-cloze data only: how many unlabelled texts to use (None = all).
    limit: int | None = None


@dataclass
class LossSpec:
    """Which loss, and its knobs; options a loss does not use are ignored by it."""

    name: str = "infonce"
    temperature: float = 0.05
    learnable_temperature: bool = False
    symmetric: bool = False
    false_negative_margin: float | None = None
    mini_batch_size: int = 32
    matryoshka_dims: list[int] | None = None
    cosent_scale: float = 20.0
    triplet_margin: float = 5.0
    # Cross-encoder bce only: scores are divided by this to give targets in [0, 1] (STS-B: 5).
    score_max: float = 5.0
    # Sparse only: FLOPS regularisation weights (sentence-transformers' SpladeLoss defaults), reached after a
    # quadratic warm-up over the first third of training.
    flops_query_weight: float = 5e-5
    flops_document_weight: float = 3e-5


@dataclass
class TrainConfig:
    """Everything a training run needs; defaults fine-tune the bundled model contrastively."""

    data: list[DatasetSpec] = field(default_factory=list)
    loss: LossSpec = field(default_factory=LossSpec)
    model: str = "minilm"
    pooling: str | None = None
    max_seq_length: int | None = None
    output_dir: str = "runs/train"
    # The run ends at the first of: `epochs` passes over the data (None: no limit), max_steps, max_minutes.
    epochs: int | None = 1
    max_steps: int | None = None
    # Training time over all sessions of a resumed run; only the leader's clock would count, so one process only.
    max_minutes: float | None = None
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    gradient_accumulation: int = 1
    # Half-precision autocast: bf16 where the CPU or GPU has it, fp16 with gradient scaling on older GPUs.
    bf16: bool = False
    # cpu, cuda, cuda:N or mps; None: the GPU when torch sees one (under torchrun, this process's), else the CPU.
    device: str | None = None
    seed: int = 0
    mixture: str = "proportional"
    eval_data: str | None = "sts/stsb/dev.jsonl"
    # Steps between evaluations; None evaluates with every checkpoint instead. The last step is always evaluated.
    eval_every: int | None = 200
    # A checkpoint every checkpoint_every steps and/or every checkpoint_minutes of training.
    checkpoint_every: int | None = 200
    checkpoint_minutes: float | None = None
    # Steps between loss lines (and points of train_report.json's loss history); None: every 10% of the run.
    log_every: int | None = None
    # Seconds between progress lines when stderr is not a terminal (a batch job's log); a terminal shows a bar.
    log_seconds: float = 30.0
    # Keep output_dir/best, the model of the best evaluation so far.
    save_best: bool = True
    architecture: str = "bi_encoder"
    # Asymmetric prefix mode: {"query": "query: ", "document": "passage: "}, applied in training and saved with
    # the model so encode_queries / encode_documents (and sentence-transformers) use them.
    prompts: dict[str, str] = field(default_factory=dict)
    # Sparse only: "query" or "document" makes that side inference-free (a learned weight per vocabulary id).
    inference_free: str | None = None

    def __post_init__(self) -> None:
        self.data = [d if isinstance(d, DatasetSpec) else _build(DatasetSpec, d, "data") for d in self.data]
        if not isinstance(self.loss, LossSpec):
            self.loss = _build(LossSpec, self.loss, "loss")
        _check_choice("loss.name", self.loss.name, LOSSES)
        _check_choice("mixture", self.mixture, MIXTURES)
        _check_architecture(self)
        for spec in self.data:
            _check_choice("data.kind", spec.kind, DATA_KINDS)
        counts = (
            "epochs", "max_steps", "batch_size", "gradient_accumulation", "eval_every", "checkpoint_every", "log_every"
        )
        check_positive_integers(self, counts, optional=True)
        for name in ("max_minutes", "checkpoint_minutes"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise EmbedlabError(f"{name} must be positive, not {getattr(self, name)}")
        if self.epochs is None and self.max_steps is None and self.max_minutes is None:
            raise EmbedlabError("a run needs an end: set epochs, max_steps or max_minutes")
        if self.learning_rate <= 0 or not 0 <= self.warmup_ratio < 1 or self.log_seconds < 0:
            raise EmbedlabError("learning_rate must be positive, warmup_ratio in [0, 1) and log_seconds not negative")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a .yaml/.yml or .toml file into a TrainConfig; keyword overrides win over the file."""
    path = Path(path)
    if not path.is_file():
        raise EmbedlabError(f"no config file at {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            content = _toml().loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            content = yaml.safe_load(text) or {}
        else:
            raise EmbedlabError(f"{path}: a config must be .yaml, .yml or .toml")
    except EmbedlabError:
        raise
    except Exception as err:  # noqa: BLE001 -- both parsers raise their own error types; the user needs the line
        raise EmbedlabError(f"{path} is not valid {path.suffix[1:].upper()}: {str(err).splitlines()[0]}") from None
    if not isinstance(content, dict):
        raise EmbedlabError(f"{path} must hold a mapping of settings at the top level")
    content.update({k: v for k, v in overrides.items() if v is not None})
    return _build(TrainConfig, content, str(path))


def _build(cls: type, values: Any, where: str):
    if not isinstance(values, dict):
        raise EmbedlabError(f"{where}: expected a mapping for {cls.__name__}, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise EmbedlabError(f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        return cls(**values)
    except TypeError as err:
        raise EmbedlabError(f"{where}: {err}") from None


def _check_architecture(config: TrainConfig) -> None:
    """Which losses fit which model: asymmetric models need query/document rows, cross-encoders their own losses."""
    _check_choice("architecture", config.architecture, ARCHITECTURES)
    if not isinstance(config.prompts, dict) or set(config.prompts) - set(PROMPT_NAMES):
        raise EmbedlabError(f"prompts must map some of {', '.join(PROMPT_NAMES)} to text, not {config.prompts!r}")
    name = config.loss.name
    if config.inference_free is not None and (
        config.architecture != "sparse" or config.inference_free not in INFERENCE_FREE_SIDES
    ):
        raise EmbedlabError(
            f"inference_free is for architecture: sparse, and names a side ({', '.join(INFERENCE_FREE_SIDES)})"
        )
    if config.architecture == "sparse":
        if name != "infonce" or config.pooling is not None or config.loss.matryoshka_dims:
            # The sparse loss is InfoNCE over dot products plus FLOPS (losses/splade.py); pooling is SPLADE's.
            raise EmbedlabError("a sparse model trains with loss infonce, no pooling and no matryoshka_dims")
    elif config.architecture == "cross_encoder":
        if config.pooling is not None:
            # The sequence-classification head pools as its architecture does (BERT: the [CLS] pooler).
            raise EmbedlabError("a cross_encoder scores with its model's classification head; drop pooling")
        if name not in CROSS_ENCODER_LOSSES or config.prompts or config.loss.matryoshka_dims:
            raise EmbedlabError(
                f"a cross_encoder trains with loss {' or '.join(CROSS_ENCODER_LOSSES)}, "
                "no prompts and no matryoshka_dims"
            )
    elif config.architecture == "multi_vector":
        if name != "infonce" or config.prompts or config.pooling is not None or config.loss.matryoshka_dims:
            # The [Q] / [D] markers are the model's prompts, and every token is kept: no pooling, no truncation.
            raise EmbedlabError("a multi_vector model trains with loss infonce, no prompts, pooling or matryoshka_dims")
    elif name == "bce":
        raise EmbedlabError("loss bce is for architecture: cross_encoder")
    elif (config.prompts or config.architecture == "two_tower") and name not in QUERY_DOCUMENT_LOSSES:
        raise EmbedlabError(
            f"prompts and two_tower need a query/document loss ({', '.join(QUERY_DOCUMENT_LOSSES)}), not {name}"
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise EmbedlabError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import tomli

    return tomli
