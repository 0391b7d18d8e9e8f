"""The batch record's charts as PNG images: rejects by reason (Pareto) and speed with reject rate
over time. Drawn with matplotlib's Agg backend (no display), one figure at a time."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from linectl.ledger.batch_record import Minute

BAR = "#2f6db5"
LINE = "#c8402b"
_DPI = 110


def _png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _figure(width: float, height: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def pareto(rejects: dict[str, int]) -> bytes | None:
    """Bars of rejects by reason, largest first, with the cumulative share; None if none."""
    ranked = sorted(((n, reason) for reason, n in rejects.items() if n), reverse=True)
    if not ranked:
        return None
    counts = [n for n, _ in ranked]
    reasons = [reason for _, reason in ranked]
    total = sum(counts)
    cumulative = [100 * sum(counts[: i + 1]) / total for i in range(len(counts))]
    figure, axes = _figure(7.0, 3.2)
    axes.bar(reasons, counts, color=BAR)
    axes.set_ylabel("rejects")
    axes.set_title("Rejects by reason (Pareto)")
    axes.tick_params(axis="x", labelrotation=30)
    share = axes.twinx()
    share.plot(reasons, cumulative, color=LINE, marker="o")
    share.set_ylim(0, 105)
    share.set_ylabel("cumulative %")
    return _png(figure)


def speed(minutes: Sequence[Minute]) -> bytes | None:
    """Packs judged per minute and the reject rate per minute over the batch; None if empty."""
    if not minutes:
        return None
    labels = [m.minute[11:16] for m in minutes]
    packs = [m.good + m.rejects for m in minutes]
    rate = [100 * m.rejects / (m.good + m.rejects) if m.good + m.rejects else 0.0 for m in minutes]
    figure, axes = _figure(7.0, 3.2)
    axes.plot(range(len(minutes)), packs, color=BAR, label="packs per minute")
    axes.set_ylabel("packs per minute")
    axes.set_title("Speed and reject rate over time (UTC)")
    step = max(1, len(labels) // 8)
    axes.set_xticks(range(0, len(labels), step), labels[::step])
    rejects = axes.twinx()
    rejects.plot(range(len(minutes)), rate, color=LINE, label="reject rate %")
    rejects.set_ylabel("reject rate %")
    rejects.set_ylim(bottom=0)
    handles = axes.get_legend_handles_labels()[0] + rejects.get_legend_handles_labels()[0]
    axes.legend(handles=handles, loc="lower left", fontsize="small")
    return _png(figure)
