"""The metrics readout: LPIPS (Alex, VGG), PSNR and SSIM in a small table.

Columns are image pairs: the restored image against the bicubic "before", and,
when a reference is loaded, the restored image and the bicubic image against
the reference. Each row says which way is better.
"""
from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

__all__ = ["MetricsPanel", "METRICS", "PAIRS"]

#: (key in restorer.metrics.compare's dict, row label, direction, decimals)
METRICS = [
    ("lpips_alex", "LPIPS (Alex)", "lower is better", 4),
    ("lpips_vgg", "LPIPS (VGG)", "lower is better", 4),
    ("dists", "DISTS", "lower is better", 4),
    ("psnr", "PSNR (dB)", "higher is better", 2),
    ("ssim", "SSIM", "higher is better", 4),
]

#: (pair key, column title)
PAIRS = [
    ("after_before", "Restored vs bicubic"),
    ("after_ref", "Restored vs reference"),
    ("before_ref", "Bicubic vs reference"),
]


def _format(value: float, decimals: int) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if math.isnan(value):
        return "n/a"
    return f"{value:.{decimals}f}"


class MetricsPanel(QWidget):
    """A table of metric values (rows) per image pair (columns), plus one message line.

    Rows follow ``METRICS`` (LPIPS unitless, PSNR in dB, SSIM unitless), columns
    ``PAIRS`` plus a "Direction" column. "–" means no value, "…" being
    computed, "∞" an infinite value (PSNR of identical images), "n/a" NaN or a
    key missing from the result.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(len(METRICS), len(PAIRS) + 1, self)
        self.table.setHorizontalHeaderLabels([title for _, title in PAIRS] + ["Direction"])
        self.table.setVerticalHeaderLabels([label for _, label, _, _ in METRICS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for row, (_, _, direction, _) in enumerate(METRICS):
            item = QTableWidgetItem(direction)
            item.setForeground(self.palette().placeholderText())
            self.table.setItem(row, len(PAIRS), item)
        height = self.table.horizontalHeader().sizeHint().height() + 2 * self.table.frameWidth()
        height += sum(self.table.verticalHeader().sectionSizeHint(r) for r in range(len(METRICS)))
        self.table.setMinimumHeight(height)
        self.table.setMaximumHeight(height)
        self.message = QLabel(self)
        self.message.setWordWrap(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addWidget(self.message)
        self.values: dict[str, dict[str, float]] = {}
        self.clear()

    def clear(self, pairs: tuple[str, ...] | None = None) -> None:
        """Blank the given pair columns (all when None)."""
        for col, (pair, _) in enumerate(PAIRS):
            if pairs is not None and pair not in pairs:
                continue
            self.values.pop(pair, None)
            for row in range(len(METRICS)):
                item = QTableWidgetItem("–")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)

    def set_pending(self, pairs: tuple[str, ...]) -> None:
        """Mark columns as being computed."""
        for col, (pair, _) in enumerate(PAIRS):
            if pair in pairs:
                for row in range(len(METRICS)):
                    self.table.item(row, col).setText("…")

    def set_values(self, pair: str, values: dict[str, float]) -> None:
        """Fill a pair's column from a ``restorer.metrics.compare`` result.

        Raises:
            ValueError: ``pair`` is not a key of ``PAIRS``.
        """
        col = [p for p, _ in PAIRS].index(pair)
        self.values[pair] = dict(values)
        for row, (key, _, _, decimals) in enumerate(METRICS):
            text = _format(float(values[key]), decimals) if key in values else "n/a"
            self.table.item(row, col).setText(text)

    def value(self, pair: str, metric: str) -> float | None:
        """The value (full precision, units as ``restorer.metrics.compare``) shown
        for ``metric`` of ``pair``, or None when that column is blank."""
        return self.values.get(pair, {}).get(metric)

    def set_message(self, text: str, error: bool = False) -> None:
        """Show one line of text under the table, in red when ``error``."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b;" if error else "")
