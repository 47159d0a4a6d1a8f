"""Restorer's desktop app: PySide6 widgets on top of the ``restorer`` engine.

* ``app``           -- :func:`main`, the program's entry (``python main.py``, the ``restorer`` console script):
                       the CLI for a subcommand, else :func:`run_app`, the window
* ``main_window``   -- the "Restorer" window: layout and wiring of the parts below
* ``session``       -- open images (documents), their results, input/output/view pixel conversions
* ``operations``    -- the one helper for background work (success, failure, staleness), drained on close
* ``actions``       -- every menu command and shortcut, one declarative table
* ``files``         -- open, reference, save, export (on worker threads), recent files
* ``runs``          -- restore runs: queue items, live tiles, crop previews, the run controls
* ``run_options``   -- model, scale, tile (auto/off/side), device, precision; the engine warm-up
* ``readouts``      -- each image pair's metrics (whole image, region, heat map) and their scheduling
* ``run_queue``     -- the queue of restore runs and the worker function of one run (memory check, restore)
* ``views/``        -- the comparison views (side by side, slider, toggle, loupe, grid) and the workbench
* ``viewport``      -- the one zoom/pan state every pane shares
* ``pyramid``       -- downscaled image pyramid: huge images pan smoothly
* ``heatmap``       -- colours for the LPIPS heat map and its colour bar
* ``metrics_panel`` -- the readout tables (whole image, visible region) with directions
* ``jobs``          -- the QThread under every operation (progress, cancel), and quiet garbage collection
* ``export``        -- the comparison picture (side by side / slider composite with captions)
* ``settings``      -- persistent settings (QSettings) and recent files
* ``shortcuts``     -- the keyboard-shortcut help overlay
* ``theme``         -- light/dark palettes following the system
* ``status``        -- memory figures for the status bar
* ``qimage``        -- tensor <-> QImage conversion (numpy, uint8)

The engine never imports Qt; this package never does model maths. An installed wheel holds this
folder as ``restorer.ui`` (pyproject.toml), so modules here import each other relatively
(``from .jobs import ...``), never as ``ui.``.
"""
