"""Write small ODIM_H5 and KNMI HDF5 radar files from the published formats, for the reader tests.

Strings are written as fixed-length ASCII like the producers do; every file is
written to a temporary name and renamed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pyproj

OPERA_PROJDEF = "+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 +y_0=-2100000.0 +units=m +ellps=WGS84"
KNMI_PROJ4 = "+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +a=6378.137 +b=6356.752 +x_0=0 +y_0=0"
# The same projection with its axes in metres (PROJ refuses to mix kilometre and metre ellipsoids).
KNMI_PROJ4_METRES = "+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +a=6378137 +b=6356752 +x_0=0 +y_0=0"


@dataclass(frozen=True)
class SmallGrid:
    """A small grid: outer upper-left corner ``(x0, y0)`` in metres, rows going south."""

    projdef: str = OPERA_PROJDEF
    x0: float = 1_000_000.0
    y0: float = -1_000_000.0
    dx: float = 2000.0
    dy: float = 2000.0
    nx: int = 5
    ny: int = 4

    @property
    def shape(self):
        return (self.ny, self.nx)

    def x(self):
        return self.x0 + (np.arange(self.nx) + 0.5) * self.dx

    def y(self):
        return self.y0 - (np.arange(self.ny) + 0.5) * self.dy

    def corners(self) -> dict[str, tuple[float, float]]:
        """(lon, lat) of the outer corners UL, UR, LL, LR."""
        to_lonlat = pyproj.Transformer.from_crs(self.projdef, "EPSG:4326", always_xy=True)
        right, bottom = self.x0 + self.nx * self.dx, self.y0 - self.ny * self.dy
        xy = {"UL": (self.x0, self.y0), "UR": (right, self.y0), "LL": (self.x0, bottom), "LR": (right, bottom)}
        return {name: to_lonlat.transform(*point) for name, point in xy.items()}


def _ascii(value: str) -> np.bytes_:
    return np.bytes_(value.encode("ascii"))


def _set(group: h5py.Group, attrs: dict) -> None:
    for key, value in attrs.items():
        group.attrs[key] = _ascii(value) if isinstance(value, str) else value


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as h5:
        write(h5)
    os.replace(tmp, path)
    return path


def _stamp(value: str) -> tuple[str, str]:
    return value[:8], value[8:14]


def write_odim(
    path,
    data: np.ndarray,
    *,
    quantity: str = "RATE",
    version: str = "2.4",
    what_on: str = "data",
    gain: float = 1.0,
    offset: float = 0.0,
    nodata: float | None = -9999000.0,
    undetect: float | None = -8888000.0,
    nominal: str = "20240101120000",
    start: str | None = None,
    end: str | None = None,
    grid: SmallGrid = SmallGrid(),
    projdef: bool = True,
    corners: tuple[str, ...] = ("UL", "UR", "LL", "LR"),
    scales: bool = True,
    quality: dict | None = None,
    qind: np.ndarray | None = None,
    extra: list[dict] | None = None,
    dataset_what: dict | None = None,
    obj: str = "COMP",
) -> Path:
    """Write an ODIM_H5 Cartesian product with ``data`` (raw values) as ``dataset1/data1``.

    ``what_on="dataset"`` writes the v2.0 layout (quantity, gain... on
    ``dataset1/what``, no ``data1/what``); ``"data"`` the v2.1+ layout.
    ``quality={"data": array, "task": "...", "what": {...}}`` adds
    ``data1/quality1``; ``qind`` adds a v2.0 ``QIND`` dataset2; ``extra``
    adds more datasets (dicts of ``data`` and ``quantity``);
    ``dataset_what`` adds attributes to ``dataset1/what`` (inheritance tests).
    """
    start = start or nominal
    end = end or nominal

    def write(h5):
        h5.attrs["Conventions"] = _ascii(f"ODIM_H5/V{version.replace('.', '_')}")
        what = h5.create_group("what")
        date, time = _stamp(nominal)
        _set(what, {"object": obj, "source": "ORG:247", "version": f"H5rad {version}", "date": date, "time": time})
        where = h5.create_group("where")
        if projdef:
            _set(where, {"projdef": grid.projdef})
        _set(where, {"xsize": np.int64(grid.nx), "ysize": np.int64(grid.ny)})
        if scales:
            _set(where, {"xscale": grid.dx, "yscale": grid.dy})
        for name, (lon, lat) in grid.corners().items():
            if name in corners:
                _set(where, {f"{name}_lon": lon, f"{name}_lat": lat})
        _set(h5.create_group("how"), {"nodes": "NOD:abcde,NOD:fghij"})
        coding = {"gain": gain, "offset": offset}
        coding.update({k: v for k, v in (("nodata", nodata), ("undetect", undetect)) if v is not None})
        datasets = [{"data": data, "quantity": quantity, **coding}]
        if qind is not None:
            datasets.append({"data": qind, "quantity": "QIND", **coding})
        datasets += extra or []
        for n, spec in enumerate(datasets, 1):
            group = h5.create_group(f"dataset{n}")
            window = {"product": "COMP"}
            window.update(dict(zip(("startdate", "starttime"), _stamp(start))))
            window.update(dict(zip(("enddate", "endtime"), _stamp(end))))
            fields = {k: v for k, v in spec.items() if k != "data"}
            dataset_level = {**window, **(fields if what_on == "dataset" else {})}
            if n == 1:
                dataset_level.update(dataset_what or {})
            _set(group.create_group("what"), dataset_level)
            data_group = group.create_group("data1")
            array = data_group.create_dataset("data", data=spec["data"], compression="gzip")
            _set(array, {"CLASS": "IMAGE", "IMAGE_VERSION": "1.2"})
            if what_on == "data":
                _set(data_group.create_group("what"), fields)
            if n == 1 and quality is not None:
                q = data_group.create_group("quality1")
                q.create_dataset("data", data=quality["data"], compression="gzip")
                _set(q.create_group("what"), quality.get("what", {"gain": 1.0, "offset": 0.0}))
                _set(q.create_group("how"), {"task": quality.get("task", "pl.imgw.quality.qi_total")})

    return _atomic(path, write)


def _knmi_time(stamp: str) -> str:
    months = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
    return f"{stamp[6:8]}-{months[int(stamp[4:6]) - 1]}-{stamp[:4]};{stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}.000"


def write_knmi(
    path,
    pixels: np.ndarray,
    *,
    parameter: str = "PRECIP_[MM]",
    formula: str = "GEO=0.010000*PV+0.000000",
    missing: int | None = 65534,
    outside: int | None = 65535,
    start: str = "20190101000000",
    end: str = "20190101000500",
    proj4: str = KNMI_PROJ4,
    column_offset: float = 0.0,
    row_offset: float = 3650.0,
    pixel_size: tuple[float, float] = (1.0000035, -1.0000048),
    corners: np.ndarray | None = None,
    quality: np.ndarray | None = None,
) -> Path:
    """Write a KNMI HDF5 radar file (RAD_NL25_RAC_RT-like) with ``pixels`` as ``image1/image_data``.

    The grid attributes follow the 1 km Dutch composite (700 x 765 there,
    any shape here); ``corners`` (4 lon/lat pairs) default to the projected
    outer corners of that grid.
    """
    ny, nx = pixels.shape

    def write(h5):
        overview = h5.create_group("overview")
        _set(overview, {
            "product_datetime_start": _knmi_time(start),
            "product_datetime_end": _knmi_time(end),
            "product_group_name": "RAD_NL25_RAC_RT",
            "number_image_groups": np.array([1 + (quality is not None)], dtype="int32"),
            "hdftag_version_number": "3.6",
        })
        geographic = h5.create_group("geographic")
        if corners is None:
            to_lonlat = pyproj.Transformer.from_crs(KNMI_PROJ4_METRES, "EPSG:4326", always_xy=True)
            edges_x = (column_offset + np.array([0, 0, nx, nx])) * pixel_size[0] * 1000
            edges_y = (row_offset + np.array([ny, 0, 0, ny])) * pixel_size[1] * 1000
            lonlat = np.column_stack(to_lonlat.transform(edges_x, edges_y)).ravel()
        else:
            lonlat = np.asarray(corners, dtype="float32").ravel()
        _set(geographic, {
            "geo_number_columns": np.array([nx], dtype="int32"),
            "geo_number_rows": np.array([ny], dtype="int32"),
            "geo_pixel_size_x": np.array([pixel_size[0]], dtype="float32"),
            "geo_pixel_size_y": np.array([pixel_size[1]], dtype="float32"),
            "geo_column_offset": np.array([column_offset], dtype="float32"),
            "geo_row_offset": np.array([row_offset], dtype="float32"),
            "geo_dim_pixel": "KM,KM",
            "geo_pixel_def": "LU",
            "geo_product_corners": lonlat.astype("float32"),
        })
        _set(geographic.create_group("map_projection"), {
            "projection_indication": "Y",
            "projection_name": "STEREOGRAPHIC",
            "projection_proj4_params": proj4,
        })
        images = [(pixels, parameter, formula, missing, outside)]
        if quality is not None:
            images.append((quality, "QUALITY_[-]", "GEO=0.010000*PV+0.000000", None, 255))
        for n, (raw, geo_parameter, calibration_formula, miss, out) in enumerate(images, 1):
            image = h5.create_group(f"image{n}")
            _set(image, {"image_geo_parameter": geo_parameter, "image_product_name": "RAD_NL25_RAC_RT"})
            array = image.create_dataset("image_data", data=raw, compression="gzip")
            _set(array, {"CLASS": "IMAGE", "IMAGE_VERSION": "1.2"})
            calibration = image.create_group("calibration")
            _set(calibration, {"calibration_flag": "Y", "calibration_formulas": calibration_formula})
            for key, value in (("calibration_missing_data", miss), ("calibration_out_of_image", out)):
                if value is not None:
                    calibration.attrs[key] = np.array([value], dtype="int32")

    return _atomic(path, write)


def truncate(path, out, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` fraction of a file's bytes to ``out`` (a transfer cut short)."""
    raw = Path(path).read_bytes()
    Path(out).write_bytes(raw[: int(len(raw) * keep)])
    return Path(out)
