"""Restorer's desktop app: PySide6 widgets on top of the ``restorer`` engine.

* ``app``           -- :func:`main`, the program's entry (``python main.py``, the ``restorer`` console script):
                       the CLI for a subcommand, else :func:`run_app`, the window
* ``main_window``   -- the "Restorer" window: menus, toolbars, docks, status bar, drag and drop
* ``views/``        -- the comparison views (side by side, slider, toggle, loupe, grid) and the workbench
* ``viewport``      -- the one zoom/pan state every pane shares
* ``pyramid``       -- downscaled image pyramid: huge images pan smoothly
* ``heatmap``       -- colours for the LPIPS heat map and its colour bar
* ``readouts``      -- live visible-region metrics and heat maps, debounced, off the GUI thread
* ``metrics_panel`` -- the readout tables (whole image, visible region) with directions
* ``run_queue``     -- the queue of restore runs (several images / models, crop previews)
* ``session``       -- open images (documents) and their results
* ``jobs``          -- a QThread that runs engine calls off the GUI thread (progress, cancel)
* ``export``        -- comparison PNG (side by side / slider composite with captions)
* ``settings``      -- persistent settings (QSettings) and recent files
* ``shortcuts``     -- the keyboard-shortcut help overlay
* ``theme``         -- light/dark palettes following the system
* ``status``        -- memory figures for the status bar
* ``qimage``        -- tensor -> QImage conversion (numpy, uint8)

The engine never imports Qt; this package never does model maths. An installed wheel holds this
folder as ``restorer.ui`` (pyproject.toml), so modules here import each other relatively
(``from .jobs import ...``), never as ``ui.``.
"""
