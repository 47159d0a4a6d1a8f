"""Build ICC profiles for tests (no downloads): a Display P3 matrix/TRC profile.

Display P3: DCI-P3 primaries (x, y) R (0.680, 0.320), G (0.265, 0.690), B (0.150, 0.060),
white D65 (0.3127, 0.3290), the sRGB transfer curve (IEC 61966-2-1). Colorants are
adapted to the ICC's D50 PCS with the Bradford transform (ICC.1:2010 Annex E). The file
layout follows ICC.1 v2.1: a 128-byte header, a tag table, and desc/cprt/wtpt/rXYZ/
gXYZ/bXYZ/rTRC/gTRC/bTRC tags.
"""
from __future__ import annotations

import struct

import numpy as np

D65 = (0.3127, 0.3290)
D50_XYZ = np.array([0.9642, 1.0, 0.8249])
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
SRGB_PRIMARIES = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def rgb_to_xyz(primaries, white=D65) -> np.ndarray:
    """3x3 matrix from linear RGB to XYZ (Y of white = 1) for the given chromaticities."""
    xyz = lambda x, y: np.array([x / y, 1.0, (1 - x - y) / y])  # noqa: E731
    P = np.stack([xyz(*p) for p in primaries], 1)
    S = np.linalg.solve(P, xyz(*white))
    return P * S


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB transfer function, encoded [0, 1] -> linear (IEC 61966-2-1)."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_decode`."""
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def p3_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """Display P3 values in [0, 1] (..., 3) -> sRGB in [0, 1] (clipped), by the matrices."""
    m = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(P3_PRIMARIES)
    return srgb_encode(srgb_decode(rgb) @ m.T)


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def display_p3_icc() -> bytes:
    """The bytes of a Display P3 ICC v2 profile (see module docstring)."""
    m = rgb_to_xyz(P3_PRIMARIES)
    white = m @ np.ones(3)
    lms = BRADFORD @ white, BRADFORD @ D50_XYZ
    adapt = np.linalg.inv(BRADFORD) @ np.diag(lms[1] / lms[0]) @ BRADFORD
    m50 = adapt @ m

    def xyz_tag(v):
        return b"XYZ \0\0\0\0" + b"".join(_s15(c) for c in v)

    curve = np.round(srgb_decode(np.linspace(0, 1, 1024)) * 65535).astype(">u2").tobytes()
    trc = b"curv\0\0\0\0" + struct.pack(">I", 1024) + curve
    text = b"Display P3 (test)\0"
    desc = (b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + struct.pack(">II", 0, 0)
            + struct.pack(">HB", 0, 0) + b"\0" * 67)
    tags = [(b"desc", desc), (b"cprt", b"text\0\0\0\0No copyright, test data\0"), (b"wtpt", xyz_tag(D50_XYZ)),
            (b"rXYZ", xyz_tag(m50[:, 0])), (b"gXYZ", xyz_tag(m50[:, 1])), (b"bXYZ", xyz_tag(m50[:, 2])),
            (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    size = 128 + len(body)
    header = (struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + b"".join(_s15(c) for c in D50_XYZ) + b"\0" * 4)
    header += b"\0" * (128 - len(header))
    return header + body
