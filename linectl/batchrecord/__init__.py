"""The batch record QA signs: HTML and PDF from one template, charts drawn by matplotlib.

:func:`render_html` and :func:`render_pdf` take what ``ledger.batches.record(batch)`` read; the
PDF is the HTML laid out by WeasyPrint, so both show the same thing. Both import their libraries
on first use (the daemon never needs them).
"""

from linectl.batchrecord.document import render_html, render_pdf

__all__ = ["render_html", "render_pdf"]
