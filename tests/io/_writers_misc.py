"""Writers of small files in the published formats of MeteoNet, NWC SAF CRR and MNIST.

Each writer produces a file the way its producer does (numpy's own ``savez``
for MeteoNet archives, eccodes samples for GRIB, netCDF4 for CRR, raw bytes for
IDX), so the readers are tested without the shared sample data.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pyproj  # noqa: F401  (must load before eccodes, whose eckitlib bundles another libproj)

CRR_PROJECTION = "+proj=geos +a=6378137.000000 +b=6356752.300000 +lon_0=0.000000 +h=35785863.000000"
SEVIRI_CFAC = 13642337


def write_npz(path: Path, pickle_protocol: int | None = None, compression: int = zipfile.ZIP_DEFLATED, **arrays) -> Path:
    """Write an ``.npz`` archive of ``arrays`` with numpy's own ``.npy`` writer.

    Object arrays are pickled by numpy, or with ``pickle_protocol`` when given
    (MeteoNet's files use protocols 2 and 3; numpy 2.4 writes 4). Members are
    deflated as by ``np.savez_compressed`` unless ``compression`` says otherwise.
    """
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=compression) as archive:
        for name, array in arrays.items():
            array = np.asanyarray(array)
            with archive.open(f"{name}.npy", "w") as fh:
                if array.dtype.hasobject and pickle_protocol is not None:
                    np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
                    pickle.dump(array, fh, protocol=pickle_protocol)
                else:
                    np.lib.format.write_array(fh, array, allow_pickle=True)
    tmp.replace(path)
    return path


def write_meteonet(path: Path, data: np.ndarray, dates, miss_dates=(), **options) -> Path:
    """A MeteoNet radar archive: int16 ``data`` and pickled ``dates``/``miss_dates``.

    ``options`` go to :func:`write_npz` (``pickle_protocol``, ``compression``).
    """
    miss = np.array(list(miss_dates), dtype=object) if len(miss_dates) else np.array([], dtype="float64")
    return write_npz(
        path,
        **options,
        data=np.asarray(data, dtype="int16"),
        dates=np.array(list(dates), dtype=object),
        miss_dates=miss,
    )


def write_meteonet_coords(path: Path, lat0: float, lon0: float, shape: tuple[int, int], step: float = 0.01) -> Path:
    """A ``radar_coords_<ZONE>.npz``: 2-D pixel-centre ``lats`` (north first) and ``lons``."""
    lats = lat0 - step * np.arange(shape[0])
    lons = lon0 + step * np.arange(shape[1])
    lon2d, lat2d = np.meshgrid(lons, lats)
    return write_npz(path, lats=lat2d, lons=lon2d)


def write_grib(path: Path, fields, edition: int = 1, grid=None, sample: str | None = None) -> Path:
    """A GRIB file of regular_ll messages cloned from an eccodes sample.

    Parameters
    ----------
    fields : list of (paramId, values 2-D north-first, missing mask or None)
    grid : dict
        ``lat_first``, ``lon_first``, ``step``; the shape comes from the values.
    sample : str, optional
        eccodes sample name; default the regular_ll surface sample of ``edition``.
    """
    import eccodes

    sample = sample or f"regular_ll_sfc_grib{edition}"
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        for param_id, values, missing in fields:
            nj, ni = values.shape
            handle = eccodes.codes_grib_new_from_samples(sample)
            try:
                if grid is not None:
                    keys = {
                        "Ni": ni,
                        "Nj": nj,
                        "iDirectionIncrementInDegrees": grid["step"],
                        "jDirectionIncrementInDegrees": grid["step"],
                        "latitudeOfFirstGridPointInDegrees": grid["lat_first"],
                        "longitudeOfFirstGridPointInDegrees": grid["lon_first"],
                        "latitudeOfLastGridPointInDegrees": grid["lat_first"] - grid["step"] * (nj - 1),
                        "longitudeOfLastGridPointInDegrees": grid["lon_first"] + grid["step"] * (ni - 1),
                        "jScansPositively": 0,
                    }
                    for key, value in keys.items():
                        eccodes.codes_set(handle, key, value)
                eccodes.codes_set(handle, "paramId", param_id)
                flat = np.asarray(values, dtype="float64").ravel().copy()
                if missing is not None:
                    eccodes.codes_set(handle, "missingValue", 9999)
                    eccodes.codes_set(handle, "bitmapPresent", 1)
                    flat[np.asarray(missing).ravel()] = 9999
                eccodes.codes_set_values(handle, flat)
                eccodes.codes_write(handle, fh)
            finally:
                eccodes.codes_release(handle)
    tmp.replace(path)
    return path


def crr_region(columns: int, lines: int, coff: float, loff: float) -> tuple[np.ndarray, np.ndarray, str]:
    """``nx``/``ny`` (round 3000 m step, as the files store them) and the ``cgms_projection`` string."""
    nx = (np.arange(1, columns + 1) - coff) * 3000.0
    ny = (loff - np.arange(1, lines + 1)) * 3000.0
    cgms = (
        f"+proj=geos +coff={coff:f} +cfac={SEVIRI_CFAC:f} +loff={loff:f} +lfac={SEVIRI_CFAC:f} "
        "+spp=0.000000 +r_eq=6378.137000 +r_pol=6356.752300 +h=42164.000000"
    )
    return nx, ny, cgms


def write_crr(path: Path, intensity: np.ndarray, accum: np.ndarray, crr_class: np.ndarray, nx, ny, cgms: str, nominal: str | None) -> Path:
    """An NWC SAF GEO CRR netCDF-4 file with the product's layout (packed raw values given)."""
    import netCDF4

    tmp = path.with_name(path.name + ".tmp")
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        nc.setncatts(
            {
                "Conventions": "CF-1.6",
                "title": "NWC GEO Convective Rainfall Rate Product",
                "product_name": "CRR",
                "satellite_identifier": "MSG4",
                "gdal_projection": CRR_PROJECTION,
                "cgms_projection": cgms,
                "time_coverage_start": "2018-06-01T14:08:58Z",
                "time_coverage_end": "2018-06-01T14:12:22Z",
            }
        )
        if nominal is not None:
            nc.nominal_product_time = nominal
        nc.createDimension("ny", len(ny))
        nc.createDimension("nx", len(nx))
        for name, values in (("ny", ny), ("nx", nx)):
            variable = nc.createVariable(name, "f4", (name,))
            variable.units = "m"
            variable[:] = values
        packed = {"scale_factor": 0.1, "add_offset": 0.0, "valid_range": np.array([0, 500], "u2")}
        for name, values, units in (("crr_intensity", intensity, "mm/h"), ("crr_accum", accum, "mm")):
            variable = nc.createVariable(name, "u2", ("ny", "nx"), fill_value=65535)
            variable.setncatts({**packed, "units": units})
            variable.set_auto_maskandscale(False)
            variable[:] = values
        variable = nc.createVariable("crr", "u1", ("ny", "nx"), fill_value=255)
        variable.setncatts({"flag_values": np.arange(12, dtype="u1"), "valid_range": np.array([0, 11], "u1")})
        variable.set_auto_maskandscale(False)
        variable[:] = crr_class
        for name in ("crr_status_flag", "crr_conditions", "crr_quality"):
            variable = nc.createVariable(name, "u2", ("ny", "nx"), fill_value=0)
            variable.set_auto_maskandscale(False)
            variable[:] = np.full(crr_class.shape, 8, dtype="u2")
    tmp.replace(path)
    return path


def write_idx(path: Path, values: np.ndarray, compress: bool = False, magic: int | None = None) -> Path:
    """An IDX file (big-endian header then values), gzip-compressed when ``compress``."""
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    values = np.asarray(values)
    big_endian = values.astype(values.dtype.newbyteorder(">")) if values.dtype.itemsize > 1 else values
    code = codes[big_endian.dtype]
    header = struct.pack(">I", magic if magic is not None else (code << 8) | values.ndim)
    payload = header + struct.pack(f">{values.ndim}I", *values.shape) + big_endian.tobytes()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(gzip.compress(payload) if compress else payload)
    tmp.replace(path)
    return path


def truncate(path: Path, keep: float) -> Path:
    """Cut a file to a fraction of its length, in place."""
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    return path
