"""The dashboard's two charts as SVG, drawn by matplotlib (a dependency already; nothing loaded from the network).

Each figure is its own ``Figure`` (no pyplot state); drawing holds one lock, since matplotlib's settings
(``rc_context``) are process-wide. The SVG is the same bytes
for the same data (fixed hash salt, no date), so the page can cache a chart by its data. The numbers of both charts
are also in the page's tables: a chart is never the only place a number is.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence

import matplotlib as mpl
from matplotlib.figure import Figure

WIDTH, HEIGHT = 6.4, 3.2  # inches at matplotlib's 72 points each
_DRAWING = threading.Lock()
# Labels are lab.yaml text: a "$" in a step title is a dollar sign, not mathtext.
RC = {"svg.hashsalt": "dflab-dashboard", "svg.fonttype": "path", "text.parse_math": False}


def _svg(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return out.getvalue()


def score_histogram(percents: Sequence[float], bins: int = 10) -> bytes:
    """How many graded trainees scored in each tenth of the maximum."""
    with _DRAWING, mpl.rc_context(RC):
        return _histogram(percents, bins)


def _histogram(percents: Sequence[float], bins: int) -> bytes:
    fig = Figure(figsize=(WIDTH, HEIGHT))
    ax = fig.add_subplot()
    ax.hist(list(percents), bins=bins, range=(0, 100), color="#3465a4", edgecolor="white")
    ax.set_xlabel("score (% of the maximum)")
    ax.set_ylabel("trainees")
    ax.set_xlim(0, 100)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Score distribution ({len(percents)} graded)")
    return _svg(fig)


def step_progress(titles: Sequence[str], past: Sequence[int], trainees: int) -> bytes:
    """How many trainees are past each step, steps top to bottom in lab order."""
    with _DRAWING, mpl.rc_context(RC):
        return _progress(titles, past, trainees)


def _progress(titles: Sequence[str], past: Sequence[int], trainees: int) -> bytes:
    fig = Figure(figsize=(WIDTH, max(1.6, 0.45 * len(titles) + 0.9)))
    ax = fig.add_subplot()
    labels = [f"{i}. {t[:40]}" for i, t in enumerate(titles, 1)]
    ax.barh(labels, past, color="#4e9a06")
    ax.invert_yaxis()
    ax.set_xlim(0, max(1, trainees))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"trainees past the step (of {trainees})")
    return _svg(fig)
