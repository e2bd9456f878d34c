"""Two processes on gloo: gathered InfoNCE equals the single-process loss on the combined batch."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from embedlab import Encoder
from embedlab.losses import InfoNCELoss
from embedlab.training import distributed
from tests.tiny_models import make_tiny_encoder

ANCHORS = [
    f"anchor text number {i} about {w}"
    for i, w in enumerate(["cats", "dogs", "rain", "sun", "trees", "rivers", "cars", "hills"])
]
BATCH = {"anchor": ANCHORS, "positive": [a.replace("text", "sentence") for a in ANCHORS]}


def tiny_model() -> Encoder:
    return make_tiny_encoder(Encoder.load().tokenizer, layers=1)  # eval mode: no dropout


def loss_and_gradients(model: Encoder, gather: bool) -> tuple[float, dict[str, torch.Tensor]]:
    loss = InfoNCELoss(temperature=0.05, gather_across_processes=gather)(model, distributed.shard(BATCH))
    loss.backward()
    distributed.average_gradients(model)
    if gather:  # the global loss is the mean of the processes' losses
        total = loss.detach().clone()
        dist.all_reduce(total)
        loss = total / distributed.world_size()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads


def _worker(rank: int, init_file: str, out: str) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    value, grads = loss_and_gradients(tiny_model(), gather=True)
    if rank == 0:
        torch.save({"loss": value, "grads": grads}, out)
    dist.destroy_process_group()


def test_two_processes_match_one_process_on_the_combined_batch(tmp_path):
    out = tmp_path / "rank0.pt"
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    two = torch.load(out, weights_only=True)
    one_loss, one_grads = loss_and_gradients(tiny_model(), gather=False)
    assert abs(two["loss"] - one_loss) < 1e-5
    assert one_grads.keys() == two["grads"].keys()
    for name, grad in one_grads.items():
        assert torch.allclose(grad, two["grads"][name], atol=1e-5), name


def test_shard_splits_columns_evenly():
    assert distributed.shard({"a": [1, 2, 3, 4], "b": list("wxyz")}, index=1, count=2) == {"a": [3, 4], "b": ["y", "z"]}
