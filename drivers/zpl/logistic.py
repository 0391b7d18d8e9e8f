"""The GS1 logistic label of a case or pallet as one ZPL II format (4 x 6 inch at 203 dpi).

Text lines, a GS1 DataMatrix with the SSCC and the content (``^BX`` quality 200) and a GS1-128
with (00) alone (``^BC``), laid out by :class:`LogisticLayout`.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.interfaces import LogisticLabel
from drivers.zpl.fielddata import DM_ESCAPE, encode_datamatrix, encode_gs1_128, field_data


@dataclass(frozen=True)
class LogisticLayout:
    """Positions in dots on a 4 x 6 inch label at 203 dpi (812 x 1218 dots)."""

    text_x: int = 40
    text_y: int = 40
    font: int = 34
    line: int = 46
    matrix_x: int = 560
    matrix_y: int = 40
    matrix_module: int = 8
    bar_x: int = 60
    bar_y: int = 420
    bar_module: int = 3
    bar_height: int = 200


def logistic_label_zpl(label: LogisticLabel, layout: LogisticLayout | None = None) -> bytes:
    """The complete ZPL II label: text, GS1 DataMatrix (^BX quality 200), GS1-128 (^BC)."""
    lay = layout or LogisticLayout()
    parts = ["^XA", "^CI28", f"^FXlinectl sscc={label.sscc} level={label.level}^FS"]
    for n, text in enumerate(label.hri()):
        y = lay.text_y + n * lay.line
        parts.append(f"^FO{lay.text_x},{y}^A0N,{lay.font},{lay.font}{field_data(text)}")
    matrix = encode_datamatrix(label.content_data, gs1=True)
    parts.append(
        f"^FO{lay.matrix_x},{lay.matrix_y}^BXN,{lay.matrix_module},200,,,,{DM_ESCAPE}{field_data(matrix)}"
    )
    parts.append(
        f"^FO{lay.bar_x},{lay.bar_y}^BY{lay.bar_module}^BCN,{lay.bar_height},Y,N,N"
        f"{field_data(encode_gs1_128(label.sscc_data))}"
    )
    parts += ["^PQ1", "^XZ"]
    return "\n".join(parts).encode("utf-8") + b"\n"
