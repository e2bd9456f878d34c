"""Pictures of an embedding space: cosine histograms, a PCA scatter and the singular-value spectrum.

Kept apart from diagnostics so that measuring never imports matplotlib.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from embedlab.atomic import atomic_path
from embedlab.evaluation.diagnostics import DiagnosticsReport, diagnose_embeddings

# Figure objects, not pyplot: no global backend or figure registry, so plotting is safe inside any app.
FIGSIZE = (7.0, 4.6)
DPI = 110


def save_plots(source: DiagnosticsReport | Any, out_dir: str | os.PathLike) -> list[Path]:
    """Write cosine_histogram.png, pca_scatter.png and singular_values.png under `out_dir`; return their paths.

    `source` is a report from diagnose or an (n, d) embedding array, which gets a pair-free diagnosis first.
    """
    report = source if isinstance(source, DiagnosticsReport) else diagnose_embeddings(source)
    out = Path(out_dir)
    figures = {
        "cosine_histogram.png": _cosine_histogram(report),
        "pca_scatter.png": _pca_scatter(report),
        "singular_values.png": _spectrum(report),
    }
    for name, fig in figures.items():
        with atomic_path(out / name) as partial:
            fig.savefig(partial, format="png", dpi=DPI)  # the partial name has no .png to infer the format from
    return [out / name for name in figures]


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _cosine_histogram(report: DiagnosticsReport) -> Figure:
    """Random-pair and positive-pair cosines on a fixed [-1, 1] axis, so a narrow cone shows as a spike near 1."""
    title = f"{report.model}: cosine similarity of pairs"
    if report.auc is not None:
        title += f" (AUC {report.auc:.3f}, overlap {report.overlap:.2f})"
    fig, ax = _figure(title, "cosine similarity", "density")
    bins = np.linspace(-1.0, 1.0, 81)
    groups = [("random", report.random_cosines, "tab:gray"), ("positive", report.positive_cosines, "tab:blue")]
    for label, cosines, colour in groups:
        if cosines is not None:
            label = f"{label} pairs (n={len(cosines)}, mean {np.mean(cosines):.2f})"
            ax.hist(cosines, bins=bins, density=True, alpha=0.55, color=colour, label=label)
    ax.set_xlim(-1.0, 1.0)
    ax.legend(loc="upper left")
    return fig


def _pca_scatter(report: DiagnosticsReport) -> Figure:
    """The unit embeddings on their top two principal components; axis labels give each one's variance share."""
    centred = report.embeddings.astype(np.float64) - report.embeddings.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = np.pad(centred @ vt[:2].T, ((0, 0), (0, max(0, 2 - len(vt)))))  # 1-D embeddings get a zero PC2
    share = np.pad(s**2 / max(float((s**2).sum()), np.finfo(float).tiny), (0, 2))  # no variance: 0% each
    title = (
        f"{report.model}: PCA of {report.n_texts} texts\n"
        f"anisotropy {report.anisotropy:.2f}, after centring {report.anisotropy_centered:.2f}"
    )
    fig, ax = _figure(title, f"PC1 ({100 * share[0]:.1f}% of variance)", f"PC2 ({100 * share[1]:.1f}% of variance)")
    ax.scatter(coords[:, 0], coords[:, 1], s=6, alpha=0.5, label="one text")
    ax.set_aspect("equal", adjustable="datalim")  # equal axes, so a thin cloud looks thin
    ax.legend(loc="upper right")
    return fig


def _spectrum(report: DiagnosticsReport) -> Figure:
    """Singular values (scaled to sum 1) of the unit embeddings as they are and after centring."""
    title = f"{report.model}: singular-value spectrum"
    fig, ax = _figure(title, "component (largest first)", "singular value / sum of all")
    emb = report.embeddings.astype(np.float64)
    curves = {
        f"raw (effective rank {report.effective_rank:.1f} of {min(emb.shape)})": emb,
        "mean-centred": emb - emb.mean(axis=0),
    }
    for label, m in curves.items():
        s = np.linalg.svd(m, compute_uv=False)
        s = s[s > s.max() * 1e-6]  # below this it is float32 rounding dust, and zeros cannot sit on a log axis
        ax.plot(np.arange(1, len(s) + 1), s / s.sum(), label=label)
    ax.set_yscale("log")
    ax.legend(loc="upper right")
    return fig
