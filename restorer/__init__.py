"""Restorer's engine: image I/O, generators, tiled inference, metrics, training. No Qt here.

Conventions (DESIGN.md section 1): images are ``torch.Tensor`` of shape
(N, C, H, W), float32, RGB in [0, 1]; conversion to and from files happens in
:mod:`restorer.io` only; alpha travels beside RGB.

Modules: :mod:`restorer.io`, :mod:`restorer.models`, :mod:`restorer.inference` (the
restore path) on :mod:`restorer.tiling`, :mod:`restorer.device` and :mod:`restorer.resample`,
:mod:`restorer.batch` (files to files), :mod:`restorer.metrics`, :mod:`restorer.degradations`,
:mod:`restorer.train`, :mod:`restorer.weights`, :mod:`restorer.facts`, :mod:`restorer.cli`.
"""

__version__ = "0.1.0"
