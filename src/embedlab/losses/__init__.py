"""Training losses: each is called as `loss(model, batch)` and returns a scalar to `.backward()`.

Batches are dicts of columns from the data layer; each loss names the columns it needs.
"""

from embedlab.losses.cached_infonce import CachedInfoNCEConfig, CachedInfoNCELoss
from embedlab.losses.cosent import CoSENTLoss
from embedlab.losses.embedding import EmbeddingLoss
from embedlab.losses.infonce import InfoNCEConfig, InfoNCELoss, infonce_from_embeddings
from embedlab.losses.matryoshka import MatryoshkaLoss
from embedlab.losses.softmax_classifier import SoftmaxClassifierLoss
from embedlab.losses.triplet import TripletConfig, TripletLoss

__all__ = [
    "CachedInfoNCEConfig",
    "CachedInfoNCELoss",
    "CoSENTLoss",
    "EmbeddingLoss",
    "InfoNCEConfig",
    "InfoNCELoss",
    "MatryoshkaLoss",
    "SoftmaxClassifierLoss",
    "TripletConfig",
    "TripletLoss",
    "infonce_from_embeddings",
]
