"""Hard-negative mining: texts that look relevant to an anchor but are not, for sharper contrastive training.

`mine(task, config, model)` returns triplets `embedlab train` reads; `embedlab mine` is the command.
"""

from embedlab.mining.config import POOLS, SAMPLINGS, SOURCES, MiningConfig
from embedlab.mining.miner import MiningReport, MiningResult, mine, write_triplets
from embedlab.mining.task import MiningTask, load_mining_task

__all__ = [
    "POOLS",
    "SAMPLINGS",
    "SOURCES",
    "MiningConfig",
    "MiningReport",
    "MiningResult",
    "MiningTask",
    "load_mining_task",
    "mine",
    "write_triplets",
]
