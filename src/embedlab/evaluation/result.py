"""The one shape every evaluator returns: metrics as fractions 0-1 plus the settings that produced them.

A shared shape lets the CLI, the suite and the reproduction table print and save any evaluation alike.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from embedlab.atomic import write_json


@dataclass
class EvalResult:
    """Metrics (lower-case keys such as `spearman`, `ndcg@10`; fractions 0-1) of one model on one dataset."""

    task: str
    dataset: str
    model: str
    metrics: dict[str, float]
    main_metric: str
    settings: dict = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def main_score(self) -> float:
        return self.metrics[self.main_metric]

    def to_dict(self) -> dict:
        return asdict(self)

    def save_json(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON, through a temporary file so a crash never leaves half a file."""
        return write_json(self.to_dict(), Path(path))

