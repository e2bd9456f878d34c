"""InfoNCE (multiple-negatives ranking): each anchor must pick its positive out of every candidate in the batch."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.distributed as dist
from torch import Tensor, nn

from embedlab.errors import EmbedlabError
from embedlab.losses.embedding import (
    Batch,
    EmbeddingLoss,
    build_config,
    check_columns,
    cosine_matrix,
    flat_negatives,
)

# A learnable temperature stays in [0.01, 1]: CLIP's cap of 100 on the logit scale, and no flatter than
# plain cosine, beyond which the softmax barely separates anything.
MIN_TEMPERATURE = 0.01
MAX_TEMPERATURE = 1.0


@dataclass(frozen=True)
class InfoNCEConfig:
    """Options of the InfoNCE loss.

    temperature: cosine similarities are divided by it before the softmax (0.05 = sentence-transformers' scale 20).
    learnable_temperature: learn log(1/temperature) as a parameter of the loss, starting from `temperature`.
    symmetric: also make each positive pick its anchor among all anchors, and average the two terms.
    false_negative_margin: if set, drop from the softmax every candidate (other than the anchor's own
        positive) whose similarity to the anchor exceeds the positive's similarity minus this margin: such
        candidates are likely unlabelled positives (duplicates, paraphrases) rather than negatives.
    gather_across_processes: in multi-process training, score each anchor against the candidates of every
        process, not just its own (all processes need equal local batches and equal numbers of negatives).
    """

    temperature: float = 0.05
    learnable_temperature: bool = False
    symmetric: bool = False
    false_negative_margin: float | None = None
    gather_across_processes: bool = False

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise EmbedlabError(f"temperature must be positive, not {self.temperature}")
        if self.learnable_temperature and not MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE:
            raise EmbedlabError(
                f"a learnable temperature must start in [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}], not {self.temperature}"
            )


def infonce_from_embeddings(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor | None = None,
    *,
    config: InfoNCEConfig | None = None,
    scale: Tensor | float | None = None,
) -> Tensor:
    """InfoNCE loss of anchors (B, d) against positives (B, d) and optional hard negatives (B, k, d).

    Anchor i's candidates are every positive (its own is the target) and every anchor's hard negatives:
    cross-entropy over cosine * scale. `scale` (1 / temperature) defaults to 1 / config.temperature;
    a learnable temperature passes its tensor here.
    """
    config = config or InfoNCEConfig()
    scale = 1.0 / config.temperature if scale is None else scale
    candidates = positives if negatives is None else torch.cat([positives, negatives.flatten(0, 1)])
    all_candidates, offset = candidates, 0
    if config.gather_across_processes:
        # Positives and negatives are gathered separately so all positives come first and the targets
        # stay a simple offset, whatever the number of processes.
        gathered_positives, offset = _gather_with_grad(positives)
        gathered = [gathered_positives]
        if negatives is not None:
            gathered.append(_gather_with_grad(negatives.flatten(0, 1))[0])
        all_candidates = torch.cat(gathered)
    targets = torch.arange(offset, offset + len(anchors), device=anchors.device)
    loss = _ranking_loss(anchors, all_candidates, targets, scale, config.false_negative_margin)
    if not config.symmetric:
        return loss
    all_anchors = _gather_with_grad(anchors)[0] if config.gather_across_processes else anchors
    backward = _ranking_loss(positives, all_anchors, targets, scale, config.false_negative_margin)
    return (loss + backward) / 2


def _ranking_loss(
    queries: Tensor, candidates: Tensor, targets: Tensor, scale: Tensor | float, margin: float | None
) -> Tensor:
    similarities = cosine_matrix(queries, candidates)
    logits = similarities * scale
    if margin is not None:
        rows = torch.arange(len(queries), device=queries.device)
        target_similarity = similarities[rows, targets].unsqueeze(1)
        likely_positive = similarities > target_similarity - margin
        likely_positive[rows, targets] = False
        logits = logits.masked_fill(likely_positive, -math.inf)
    return nn.functional.cross_entropy(logits, targets)


def _gather_with_grad(local: Tensor) -> tuple[Tensor, int]:
    """Every process's rows, concatenated in rank order, and where this process's rows start.

    Gradients flow back to the process that computed each row. Without an initialised multi-process
    group this is the identity.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local, 0
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        # Newer torch points to a private replacement that older supported versions lack; this one works on all.
        warnings.filterwarnings("ignore", message=".*nn.functional.all_gather is deprecated", category=FutureWarning)
        gathered = all_gather(local.contiguous())
    return torch.cat(gathered), dist.get_rank() * len(local)


class InfoNCELoss(EmbeddingLoss):
    """InfoNCE / multiple-negatives ranking loss with in-batch and hard negatives.

    Inputs: pairs {"anchor", "positive"} or triplets that add {"negatives": k texts per anchor}.
    Each anchor is trained to rank its positive above every other positive in the batch and every hard
    negative; larger batches give more negatives and usually better models.

    When to use: the default for retrieval and general-purpose embeddings from (query, passage) or
    paraphrase pairs, where only positives are labelled. Add mined hard negatives for sharper ranking;
    use `CachedInfoNCELoss` for batches larger than memory allows; `false_negative_margin` when the data
    holds duplicates that would otherwise be pushed apart.

        loss = InfoNCELoss(temperature=0.05, symmetric=True)   # or InfoNCELoss(InfoNCEConfig(...))
        value = loss(encoder, {"anchor": [...], "positive": [...]})
        value.backward()
    """

    config_type: ClassVar[type[InfoNCEConfig]] = InfoNCEConfig

    def __init__(self, config: InfoNCEConfig | None = None, **options: object) -> None:
        super().__init__()
        self.config = build_config(self.config_type, config, options)
        initial = torch.tensor(math.log(1.0 / self.config.temperature))
        self.log_scale = nn.Parameter(initial) if self.config.learnable_temperature else None

    @property
    def temperature(self) -> float:
        """The temperature in use now (the learned one, if learnable)."""
        with torch.no_grad():
            return 1.0 / float(self.scale())

    def scale(self) -> Tensor | float:
        """1 / temperature: a float, or the learnable parameter's value with its gradient."""
        if self.log_scale is None:
            return 1.0 / self.config.temperature
        with torch.no_grad():
            # Clamping the parameter itself (as CLIP does) undoes an optimizer step past a bound and keeps
            # the gradient alive; clamping only the value used would zero the gradient there for good.
            self.log_scale.clamp_(-math.log(MAX_TEMPERATURE), -math.log(MIN_TEMPERATURE))
        return self.log_scale.exp()

    def text_groups(self, batch: Batch) -> list[list[str]]:
        name = type(self).__name__
        columns = ["anchor", "positive", "negatives"] if "negatives" in batch else ["anchor", "positive"]
        check_columns(batch, columns, name)
        groups = [list(batch["anchor"]), list(batch["positive"])]
        negatives = flat_negatives(batch, name) if "negatives" in batch else []
        return groups + [negatives] if negatives else groups

    def loss_from_embeddings(self, embeddings: list[Tensor], batch: Batch) -> Tensor:
        anchors, positives, *rest = embeddings
        negatives = rest[0].reshape(len(anchors), -1, anchors.shape[-1]) if rest else None
        return infonce_from_embeddings(anchors, positives, negatives, config=self.config, scale=self.scale())
