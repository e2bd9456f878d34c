"""From a TrainConfig to a running job: model, data, loss, evaluator and Trainer.

`train(config)` is what `embedlab train CONFIG` calls, so Python users get exactly the CLI's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from embedlab.data import dataset_path
from embedlab.data.batch_sampling import MixtureSampler
from embedlab.data.training_sets import load_training_set
from embedlab.errors import EmbedlabError
from embedlab.evaluation.pair_scoring import evaluate_pair_scorer
from embedlab.evaluation.result import EvalResult
from embedlab.evaluation.sts import evaluate_sts
from embedlab.losses import (
    CachedInfoNCELoss,
    CoSENTLoss,
    InfoNCELoss,
    MatryoshkaLoss,
    SoftmaxClassifierLoss,
    TripletLoss,
)
from embedlab.losses.asymmetric import AsymmetricLoss
from embedlab.losses.cross_encoder import CrossEncoderBCELoss, CrossEncoderRankingLoss
from embedlab.losses.late_interaction import LateInteractionLoss
from embedlab.losses.splade import SpladeLoss
from embedlab.models.cross_encoder import PairScorer, load_for_training
from embedlab.models.encoder import Encoder
from embedlab.models.multi_vector import MultiVectorEncoder
from embedlab.models.multi_vector_format import is_multi_vector_dir
from embedlab.models.sparse_encoder import SparseEncoder
from embedlab.models.two_tower import TwoTowerEncoder
from embedlab.training import distributed
from embedlab.training.config import LossSpec, TrainConfig
from embedlab.training.trainer import Trainer, TrainReport, seed_everything

Model = Encoder | TwoTowerEncoder | PairScorer | SparseEncoder | MultiVectorEncoder


def build_model(config: TrainConfig) -> Model:
    """The model a config trains: an Encoder (with its prompts set), two towers copied from it, or a cross-encoder."""
    if config.architecture == "cross_encoder":
        return load_for_training(config.model, max_seq_length=config.max_seq_length, device=config.device).train()
    if config.architecture == "sparse":
        model = SparseEncoder.for_training(config.model, device=config.device, inference_free=config.inference_free)
        model.max_seq_length = config.max_seq_length or model.max_seq_length
        model.layout.transformer.prompts = {**model.prompts, **config.prompts}
        return model
    if config.architecture == "multi_vector":
        return multi_vector_model(config)
    model = Encoder.load(
        config.model, pooling=config.pooling, max_seq_length=config.max_seq_length, device=config.device
    )
    # Stored in the layout, the prompts are saved with every checkpoint and used by encode_queries / _documents.
    model.layout.prompts = {**model.layout.prompts, **config.prompts}
    return TwoTowerEncoder.from_encoder(model) if config.architecture == "two_tower" else model


def multi_vector_model(config: TrainConfig) -> MultiVectorEncoder:
    """A ColBERT directory goes on training; a dense model starts one (a fresh projection seeded by config.seed)."""
    if is_multi_vector_dir(Path(config.model).expanduser()):
        model = MultiVectorEncoder.load(config.model, device=config.device, max_seq_length=config.max_seq_length)
    else:
        model = MultiVectorEncoder.from_dense(
            config.model, seed=config.seed, max_seq_length=config.max_seq_length, device=config.device
        )
    return model.train()


def build_loss(spec: LossSpec, model: Model, asymmetric: bool = False) -> nn.Module:
    """The configured loss: the cross-encoder's for a CrossEncoder; AsymmetricLoss around it for prefix or
    two-tower models (`asymmetric`); MatryoshkaLoss outermost when nested dims are given.
    """
    if isinstance(model, PairScorer):
        return CrossEncoderBCELoss(spec.score_max) if spec.name == "bce" else CrossEncoderRankingLoss()
    if isinstance(model, SparseEncoder):
        return SpladeLoss(query_flops_weight=spec.flops_query_weight, document_flops_weight=spec.flops_document_weight)
    if isinstance(model, MultiVectorEncoder):
        return LateInteractionLoss(temperature=spec.temperature)
    contrastive = {
        "temperature": spec.temperature,
        "learnable_temperature": spec.learnable_temperature,
        "symmetric": spec.symmetric,
        "false_negative_margin": spec.false_negative_margin,
        # Several processes only help contrastive training if each sees the others' candidates.
        "gather_across_processes": distributed.world_size() > 1,
    }
    if spec.name == "infonce":
        loss = InfoNCELoss(**contrastive)
    elif spec.name == "cached_infonce":
        loss = CachedInfoNCELoss(**contrastive, mini_batch_size=spec.mini_batch_size)
    elif spec.name == "cosent":
        loss = CoSENTLoss(scale=spec.cosent_scale)
    elif spec.name == "triplet":
        loss = TripletLoss(margin=spec.triplet_margin)
    else:
        loss = SoftmaxClassifierLoss(model.dim, num_labels=3)
    if asymmetric or isinstance(model, TwoTowerEncoder):
        loss = AsymmetricLoss(loss)
    return MatryoshkaLoss(loss, dims=spec.matryoshka_dims) if spec.matryoshka_dims else loss


def sts_evaluator(path: str, cross_encoder: bool = False) -> Callable[[Model], EvalResult] | None:
    """Evaluation on an STS file (a path, or one under the data root such as STS-B dev); None when absent.

    A cross-encoder is judged by the Spearman correlation of its pair scores instead of cosine.
    """
    found = Path(path) if Path(path).is_file() else dataset_path(*Path(path).parts)
    if found is None:
        return None
    if cross_encoder:
        return lambda model: evaluate_pair_scorer(model, found)
    return lambda model: evaluate_sts(model, found)


def build_trainer(config: TrainConfig, model: Model | None = None) -> Trainer:
    """Load everything a config names and return a ready Trainer."""
    if not config.data:
        raise EmbedlabError("the config names no training data (add at least one entry under `data`)")
    distributed.init_from_environment()
    seed_everything(config.seed)
    if model is None:
        model = build_model(config)
    datasets = [load_training_set(spec.path, spec.kind, spec.limit, config.seed) for spec in config.data]
    batches = MixtureSampler(datasets, config.batch_size, seed=config.seed, mixture=config.mixture)
    loss = build_loss(config.loss, model, asymmetric=bool(config.prompts)).to(model.device)
    if isinstance(model, SparseEncoder):
        return sparse_trainer(config, model, loss, batches)
    # STS scores one vector per sentence; a multi-vector model is judged by retrieval after training instead.
    scores_sts = config.eval_data and not isinstance(model, MultiVectorEncoder)
    evaluate = sts_evaluator(config.eval_data, isinstance(model, PairScorer)) if scores_sts else None
    return Trainer(config, model, loss, batches, evaluate=evaluate)


def sparse_trainer(config: TrainConfig, model: SparseEncoder, loss: SpladeLoss, batches: MixtureSampler) -> Trainer:
    """A Trainer for a SPLADE model: no STS evaluation (it scores cosines of dense vectors; a sparse model is
    judged by retrieval after training), FLOPS warm-up over the run's steps, active terms in the loss lines."""
    trainer = Trainer(config, model, loss, batches, metrics=loss.metrics)
    total = trainer.budget.total_steps
    loss.set_warmup(None if total is None else total * config.gradient_accumulation)
    return trainer


def train(config: TrainConfig, model: Model | None = None, resume: bool = True) -> TrainReport:
    """Run a configured training job to the end (resuming a checkpoint in output_dir if there is one)."""
    return build_trainer(config, model).train(resume=resume)
