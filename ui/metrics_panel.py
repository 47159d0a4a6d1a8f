"""The metrics readout: the whole image (LPIPS Alex/VGG, DISTS, PSNR, SSIM) and
the visible region (LPIPS Alex, PSNR, SSIM, refreshed while panning/zooming).

Columns are image pairs: the restored image against the bicubic "before", and,
when a reference is loaded, the restored image and the bicubic image against
the reference. Each row says which way is better.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from restorer import facts
from restorer.facts import format_value

__all__ = ["MetricsPanel", "WHOLE_ROWS", "REGION_ROWS", "REGION_PAIRS", "WHOLE_PAIRS"]

#: Rows of the whole-image table (:data:`restorer.facts.METRICS`: key, name, unit, direction, decimals).
WHOLE_ROWS = [facts.METRICS[key] for key in facts.COMPARE_KEYS]

#: Rows of the visible-region table (keys of ``restorer.metrics.RegionMetrics.region``).
REGION_ROWS = [m for m in WHOLE_ROWS if m.key in facts.REGION_KEYS]

#: Columns of the region table (:data:`restorer.facts.PAIRS`).
REGION_PAIRS = [facts.PAIRS[key] for key in (facts.AFTER_BEFORE, facts.AFTER_REF, facts.BEFORE_REF)]

#: Columns of the whole-image table: ``REGION_PAIRS`` plus the no-reference consistency
#: readout (the restored image downscaled back to the input's size, against the
#: input: ``restorer.metrics.consistency``; PSNR, SSIM and LPIPS-Alex only).
WHOLE_PAIRS = REGION_PAIRS + [facts.PAIRS[facts.CONSISTENCY]]


def _make_table(parent: QWidget, rows: list[facts.Metric], pairs: list[facts.Pair]) -> QTableWidget:
    table = QTableWidget(len(rows), len(pairs) + 1, parent)
    # Two-line column titles ("Restored vs" / "reference"): one line was clipped in a
    # half-window-wide table. The full title is the tooltip.
    for col, title in enumerate([pair.title for pair in pairs] + ["Direction"]):
        header = QTableWidgetItem(title.replace(" vs ", " vs\n"))
        header.setToolTip(title)
        table.setHorizontalHeaderItem(col, header)
    table.setVerticalHeaderLabels([m.label for m in rows])
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    for row, m in enumerate(rows):
        item = QTableWidgetItem(m.direction)
        item.setForeground(parent.palette().placeholderText())
        table.setItem(row, len(pairs), item)
    height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
    height += sum(table.verticalHeader().sectionSizeHint(r) for r in range(len(rows)))
    table.setMinimumHeight(height)
    table.setMaximumHeight(height)
    return table


def _blank(table: QTableWidget, rows: int, col: int, text: str = "–") -> None:
    for row in range(rows):
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        table.setItem(row, col, item)


class MetricsPanel(QWidget):
    """Two tables of metric values (rows) per image pair (columns): the whole
    image (``table``, rows ``WHOLE_ROWS``) and the visible region
    (``region_table``, rows ``REGION_ROWS``), plus one message line.

    LPIPS and DISTS are unitless, PSNR in dB, SSIM unitless. "–" means no
    value, "…" being computed, "∞" an infinite value (PSNR of identical
    images), "n/a" NaN or a key missing from the result.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = _make_table(self, WHOLE_ROWS, WHOLE_PAIRS)
        self.region_table = _make_table(self, REGION_ROWS, REGION_PAIRS)
        self.whole_title = QLabel("<b>Whole image</b>", self)
        self.region_title = QLabel("<b>Visible region</b>", self)
        self.message = QLabel(self)
        self.message.setWordWrap(False)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.whole_title, 0, 0)
        grid.addWidget(self.region_title, 0, 1)
        grid.addWidget(self.table, 1, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.region_table, 1, 1, Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(grid)
        layout.addWidget(self.message)
        self.values: dict[str, dict[str, float]] = {}
        self.region_values: dict[str, dict[str, float]] = {}
        self.region_box: tuple[int, int, int, int] | None = None
        self.clear()

    def clear(self, pairs: tuple[str, ...] | None = None) -> None:
        """Blank the given pair columns of the whole-image table; None blanks
        every column of both tables."""
        for col, pair in enumerate(p.key for p in WHOLE_PAIRS):
            if pairs is not None and pair not in pairs:
                continue
            self.values.pop(pair, None)
            _blank(self.table, len(WHOLE_ROWS), col)
        if pairs is None:
            self.clear_region()

    def clear_region(self, pairs: tuple[str, ...] | None = None) -> None:
        """Blank the given pair columns (all when None) of the region table."""
        for col, pair in enumerate(p.key for p in REGION_PAIRS):
            if pairs is not None and pair not in pairs:
                continue
            self.region_values.pop(pair, None)
            _blank(self.region_table, len(REGION_ROWS), col)
        if pairs is None:
            self.region_box = None
            self.region_title.setText("<b>Visible region</b>")

    def set_pending(self, pairs: tuple[str, ...]) -> None:
        """Mark whole-image columns as being computed."""
        for col, pair in enumerate(p.key for p in WHOLE_PAIRS):
            if pair in pairs:
                for row in range(len(WHOLE_ROWS)):
                    self.table.item(row, col).setText("…")

    def set_values(self, pair: str, values: dict[str, float]) -> None:
        """Fill a pair's whole-image column from a ``restorer.metrics.compare`` result.

        Raises:
            ValueError: ``pair`` is not a key of ``WHOLE_PAIRS``.
        """
        col = [p.key for p in WHOLE_PAIRS].index(pair)
        self.values[pair] = dict(values)
        for row, m in enumerate(WHOLE_ROWS):
            text = format_value(float(values[m.key]), m.decimals) if m.key in values else "–"
            self.table.item(row, col).setText(text)

    def set_region_values(self, box: tuple[int, int, int, int], values: dict[str, dict[str, float]]) -> None:
        """Fill the region table: ``values`` is ``{pair: {metric: value}}`` for
        ``box`` = (x0, y0, x1, y1) image pixels (x1, y1 exclusive); pairs not in
        ``values`` are blanked."""
        self.region_box = tuple(box)
        x0, y0, x1, y1 = box
        self.region_title.setText(f"<b>Visible region</b> x {x0}–{x1}, y {y0}–{y1} ({x1 - x0}×{y1 - y0} px)")
        for col, pair in enumerate(p.key for p in REGION_PAIRS):
            if pair not in values:
                self.region_values.pop(pair, None)
                _blank(self.region_table, len(REGION_ROWS), col)
                continue
            self.region_values[pair] = dict(values[pair])
            for row, m in enumerate(REGION_ROWS):
                v = values[pair].get(m.key)
                self.region_table.item(row, col).setText(format_value(None if v is None else float(v), m.decimals))

    def value(self, pair: str, metric: str) -> float | None:
        """The whole-image value (full precision, units as ``restorer.metrics.compare``)
        shown for ``metric`` of ``pair``, or None when that column is blank."""
        return self.values.get(pair, {}).get(metric)

    def set_message(self, text: str, error: bool = False) -> None:
        """Show one line of text under the tables, in red when ``error``."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #c0392b;" if error else "")

    def as_text(self) -> str:
        """Both tables as tab-separated text (a header line per table, one line
        per metric: label, a value per pair, direction), for the clipboard."""
        lines = []
        region_title = self.region_title.text().replace("<b>", "").replace("</b>", "")
        for title, table, rows, pairs in (("Whole image", self.table, WHOLE_ROWS, WHOLE_PAIRS),
                                          (region_title, self.region_table, REGION_ROWS, REGION_PAIRS)):
            lines.append("\t".join([title] + [p.title for p in pairs] + ["Direction"]))
            for r, m in enumerate(rows):
                lines.append("\t".join([m.label] + [table.item(r, c).text() for c in range(len(pairs) + 1)]))
            lines.append("")
        return "\n".join(lines).rstrip("\n") + "\n"
