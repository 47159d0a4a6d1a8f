"""Restorer's desktop app: PySide6 widgets on top of the ``restorer`` engine.

* ``app``           -- :func:`run_app`, the entry point used by ``python main.py [IMAGE ...]``
* ``main_window``   -- the "Restorer" main window: menus, toolbar, status bar, drag and drop
* ``compare_view``  -- the before/after pair of image views with synchronised zoom and pan
* ``metrics_panel`` -- the LPIPS / PSNR / SSIM readout table
* ``jobs``          -- a QThread that runs engine calls off the GUI thread (progress, cancel)
* ``qimage``        -- tensor -> QImage conversion (numpy, uint8)

The engine never imports Qt; this package never does model maths.
"""
