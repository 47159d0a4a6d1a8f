"""Process memory figures for the status bar (no third-party dependency)."""
from __future__ import annotations

import os
import sys

__all__ = ["process_memory_mb", "gpu_memory_mb"]


def process_memory_mb() -> float | None:
    """Resident memory of this process in MiB (Linux ``/proc/self/statm``;
    elsewhere the peak from ``resource.getrusage``), or None when unknown."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux
    except (ImportError, OSError):
        return None


def gpu_memory_mb() -> float | None:
    """CUDA memory held by torch's allocator in MiB, when torch is already
    imported and CUDA initialised (never imports torch itself); else None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.cuda.is_initialized():
            return None
        return torch.cuda.memory_reserved() / 2**20
    except Exception:  # noqa: BLE001 - a status line never fails the app
        return None
