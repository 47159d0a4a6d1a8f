"""The comparison views, all drawn through one shared viewport (``ui.viewport``).

* ``canvas``       -- :class:`ImageCanvas` (one pane) and :class:`Layer` (one picture + live tiles + heat map)
* ``side_by_side`` -- before | after in two panes
* ``slider``       -- split slider with a draggable divider (horizontal or vertical)
* ``toggle``       -- hold Space to flip before/after
* ``loupe``        -- round magnifier under the mouse, half before, half after
* ``grid``         -- N-way grid (bicubic, model A, model B, reference, ...)
* ``workbench``    -- :class:`ComparisonWorkbench`: all modes in a stack, the viewport, the colour bar
"""
from .canvas import ImageCanvas, Layer, Overlay
from .grid import GridView
from .loupe import LoupeView
from .side_by_side import SideBySideView
from .slider import SliderView
from .toggle import ToggleView
from .workbench import MODES, ComparisonWorkbench

__all__ = ["ImageCanvas", "Layer", "Overlay", "GridView", "LoupeView", "SideBySideView", "SliderView", "ToggleView",
           "MODES", "ComparisonWorkbench"]
