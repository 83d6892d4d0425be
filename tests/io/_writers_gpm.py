"""Write small HDF5 files in the NASA PPS layouts (IMERG grids, GPM 1C and 2A swaths) for the reader tests.

The layouts follow the GPM file specification as PPS writes it: PVL text in the
root ``FileHeader``/``FileInfo`` attributes, fixed-length string attributes,
``DimensionNames``/``_FillValue``/``CodeMissingValue``/``Units`` on each
dataset, IMERG fields stored ``(time, lon, lat)``, swath scan times in
``ScanTime/{Year..MilliSecond}``. Inputs use NaN for "missing"; the writers
turn it into the file's fill codes.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

FLOAT_FILL = np.float32(-9999.9)
INT_FILL = -9999
IMERG_V07_INTERMEDIATE = ("MWprecipitation", "MWprecipSource", "MWobservationTime", "IRprecipitation", "IRinfluence", "precipitationUncal")
IMERG_V06_NAMES = {"precipitation": "precipitationCal", "MWprecipitation": "HQprecipitation", "MWprecipSource": "HQprecipSource",
                   "MWobservationTime": "HQobservationTime", "IRinfluence": "IRkalmanFilterWeight"}
IMERG_RATE_FIELDS = {"precipitation", "precipitationUncal", "MWprecipitation", "IRprecipitation", "randomError"}
IMERG_INT_FIELDS = {"MWprecipSource", "MWobservationTime", "IRinfluence", "probabilityLiquidPrecipitation"}
IMERG_EPOCHS = {"V07": "1980-01-06", "V06": "1970-01-01"}
GMI_S1_LONGNAME = ("\nIntercalibrated Tb for channels \n    1) 10.65 GHz V-Pol 2) 10.65 GHz H-Pol\n    3) 18.7 GHz V-Pol "
                   "4) 18.7 GHz H-Pol\n    5) 23.8 GHz V-Pol \n    6) 36.64 GHz V-Pol 7) 36.64 GHz H-Pol\n"
                   "    8) 89.0 GHz V-Pol and 9) 89.0 GHz H-Pol\n")
GMI_S2_LONGNAME = ("\nIntercalibrated Tb for channels \n    1) 166.0 GHz V-Pol 2) 166.0 GHz H-Pol\n"
                   "    3) 183.31 +/-3 GHz V-Pol and \n    4) 183.31 +/-7 GHz V-Pol\n")


def pvl(**records) -> np.bytes_:
    """PPS metadata text: one ``key=value;`` line per record."""
    return np.bytes_("".join(f"{key}={value};\n" for key, value in records.items()))


@contextmanager
def _new_h5(path: Path):
    """An HDF5 file written under a temporary name and renamed when complete."""
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    with h5py.File(partial, "w") as h5:
        yield h5
    os.replace(partial, path)


def _put(group: h5py.Group, name: str, values, dims: str, units: str | None = None, longname: str | None = None,
         dtype=None) -> h5py.Dataset:
    """A dataset with PPS attributes; NaN in ``values`` is written as the fill code of ``dtype``."""
    values = np.asarray(values)
    dtype = np.dtype(dtype or values.dtype)
    fill = FLOAT_FILL if dtype.kind == "f" else np.array(INT_FILL if np.iinfo(dtype).min <= INT_FILL else -99).astype(dtype)
    if values.dtype.kind == "f" and dtype.kind != "f":
        values = np.where(np.isnan(values), fill, values)
    elif dtype.kind == "f":
        values = np.where(np.isnan(values), FLOAT_FILL, values)
    dataset = group.create_dataset(name, data=values.astype(dtype))
    dataset.attrs["DimensionNames"] = np.bytes_(dims)
    dataset.attrs["_FillValue"] = np.array(fill, dtype=dtype)
    dataset.attrs["CodeMissingValue"] = np.bytes_(f"{float(fill):.1f}" if dtype.kind == "f" else str(int(fill)))
    if units:
        dataset.attrs["Units"] = np.bytes_(units)
    if longname:
        dataset.attrs["LongName"] = np.bytes_(longname)
    return dataset


def _header(h5: h5py.File, algorithm: str, version: str, start: pd.Timestamp, stop: pd.Timestamp, **extra) -> None:
    h5.attrs["FileHeader"] = pvl(
        AlgorithmID=algorithm, FileName=extra.pop("FileName", "synthetic.HDF5"),
        StartGranuleDateTime=start.strftime("%Y-%m-%dT%H:%M:%S.000Z"), StopGranuleDateTime=stop.strftime("%Y-%m-%dT%H:%M:%S.999Z"),
        ProductVersion=version, **extra)
    h5.attrs["FileInfo"] = pvl(DataFormatVersion="7e", MetadataStyle="PVL", EndianType="LITTLE_ENDIAN")


def write_imerg(path, fields: dict[str, np.ndarray], lat, lon, start="2019-07-01T12:30", version="V07",
                time_units: str | None = None) -> Path:
    """An IMERG half-hourly file; ``fields`` maps V07 names to ``(lat, lon)`` arrays (NaN = missing).

    ``version`` "V06" writes the V06 names all in ``/Grid``; "V07" puts the
    intermediate fields in ``/Grid/Intermediate``. ``time_units`` overrides
    the version's epoch (``"<unit> since <epoch> UTC"``; values in that unit).
    """
    start = pd.Timestamp(start)
    lat, lon = np.asarray(lat, "float32"), np.asarray(lon, "float32")
    units = time_units or f"seconds since {IMERG_EPOCHS[version]} 00:00:00 UTC"
    unit, _, epoch = units.partition(" since ")
    step = pd.Timedelta(1, unit={"seconds": "s", "minutes": "min", "hours": "h"}[unit])
    epoch = pd.Timestamp(epoch.replace(" UTC", ""))
    bounds = np.array([[(start - epoch) // step, (start + pd.Timedelta("30min") - epoch) // step]], dtype="int32")
    with _new_h5(path) as h5:
        _header(h5, "3IMERGHH", f"{version}B", start, start + pd.Timedelta("30min") - pd.Timedelta("1ms"),
                TimeInterval="HALF_HOUR", SatelliteName="MULTI", InstrumentName="MERGED")
        grid = h5.create_group("Grid")
        grid.attrs["GridHeader"] = pvl(Registration="CENTER", LatitudeResolution=0.1, LongitudeResolution=0.1, Origin="SOUTHWEST")
        intermediate = grid.create_group("Intermediate") if version == "V07" else grid
        for name, values, axis_units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            grid.create_dataset(name, data=values).attrs["units"] = np.bytes_(axis_units)
        grid.create_dataset("time", data=bounds[:, 0]).attrs["units"] = np.bytes_(units)
        grid.create_dataset("time_bnds", data=bounds).attrs["units"] = np.bytes_(units)
        for name, field in fields.items():
            target = intermediate if name in IMERG_V07_INTERMEDIATE else grid
            stored = IMERG_V06_NAMES.get(name, name) if version == "V06" else name
            dtype = "int16" if name in IMERG_INT_FIELDS else "float32"
            data = np.asarray(field, dtype="float64").T[None]  # (lat, lon) -> (time, lon, lat)
            _put(target, stored, data, "time,lon,lat", units="mm/hr" if name in IMERG_RATE_FIELDS else None, dtype=dtype)
    return Path(path)


def _scan_time(group: h5py.Group, times, dims: str) -> None:
    stamps = pd.DatetimeIndex(times)
    scan_time = group.create_group("ScanTime")
    for name, values, dtype in (("Year", stamps.year, "int16"), ("Month", stamps.month, "int8"), ("DayOfMonth", stamps.day, "int8"),
                                ("Hour", stamps.hour, "int8"), ("Minute", stamps.minute, "int8"), ("Second", stamps.second, "int8"),
                                ("MilliSecond", stamps.microsecond // 1000, "int16")):
        _put(scan_time, name, np.asarray(values), dims, dtype=dtype)


def _swath(h5: h5py.File, name: str, lat, lon, times, scan_dim: str, pixel_dim: str) -> h5py.Group:
    group = h5.create_group(name)
    group.attrs[f"{name}_SwathHeader"] = pvl(NumberScansGranule=len(times), NumberPixels=np.shape(lat)[1])
    _put(group, "Latitude", lat, f"{scan_dim},{pixel_dim}", units="degrees", dtype="float32")
    _put(group, "Longitude", lon, f"{scan_dim},{pixel_dim}", units="degrees", dtype="float32")
    _scan_time(group, times, scan_dim)
    return group


def write_1c(path, swaths: dict[str, dict], times, instrument="GMI", granule=79) -> Path:
    """A 1C radiometer granule; ``swaths`` maps ``"S1"`` to ``{"tc", "lat", "lon"[, "longname"]}``."""
    times = pd.DatetimeIndex(times)
    with _new_h5(path) as h5:
        _header(h5, f"1C{instrument}", "V07A", times[0], times[-1], InstrumentName=instrument, SatelliteName="GPM",
                GranuleNumber=f"{granule:06d}")
        for index, (name, spec) in enumerate(swaths.items(), start=1):
            dims = f"nscan{index},npixel{index}"
            group = _swath(h5, name, spec["lat"], spec["lon"], times, f"nscan{index}", f"npixel{index}")
            _put(group, "Tc", spec["tc"], f"{dims},nchannel{index}", units="K", longname=spec.get("longname"), dtype="float32")
            _put(group, "Quality", np.zeros(np.shape(spec["lat"])), dims, dtype="int8")
            _put(group, "incidenceAngle", np.full(np.shape(spec["lat"]) + (1,), 52.8), f"{dims},nchUIA{index}", units="degrees",
                 dtype="float32")
    return Path(path)


def write_2a_gprof(path, precip, probability, lat, lon, times, granule=79) -> Path:
    """A 2A GPROF granule with ``S1/surfacePrecipitation`` (mm/h) and ``probabilityOfPrecip`` (int8 %)."""
    times = pd.DatetimeIndex(times)
    with _new_h5(path) as h5:
        _header(h5, "2AGPROFGMI", "V07A", times[0], times[-1], InstrumentName="GMI", GranuleNumber=f"{granule:06d}")
        group = _swath(h5, "S1", lat, lon, times, "nscan", "npixel")
        _put(group, "surfacePrecipitation", precip, "nscan,npixel", units="mm/hr", dtype="float32")
        _put(group, "probabilityOfPrecip", probability, "nscan,npixel", units="percent", dtype="int8")
        _put(group, "qualityFlag", np.zeros(np.shape(precip)), "nscan,npixel", dtype="int8")
    return Path(path)


def write_2a_dpr(path, swaths: dict[str, dict], times, version="V07A", granule=144) -> Path:
    """A 2A DPR granule; ``swaths`` maps a swath (``FS``/``HS`` in V07, ``NS``/``MS``/``HS`` before) to
    ``{"precip" (scan, ray), "z" (scan, ray, bin[, 2]), "lat", "lon"}``.

    V07 writes ``SLV/zFactorFinal``, earlier versions ``SLV/zFactorCorrected``.
    """
    times = pd.DatetimeIndex(times)
    z_name = "zFactorFinal" if version.startswith("V07") else "zFactorCorrected"
    with _new_h5(path) as h5:
        _header(h5, "2ADPR", version, times[0], times[-1], InstrumentName="DPR", GranuleNumber=str(granule))
        for name, spec in swaths.items():
            suffix = "HS" if name == "HS" else ""
            group = _swath(h5, name, spec["lat"], spec["lon"], times, "nscan", f"nray{suffix}")
            slv = group.create_group("SLV")
            _put(slv, "precipRateNearSurface", spec["precip"], f"nscan,nray{suffix}", units="mm/hr", dtype="float32")
            z_dims = f"nscan,nray{suffix},nbin{suffix}" + (",nfreq" if np.ndim(spec["z"]) == 4 else "")
            _put(slv, z_name, spec["z"], z_dims, units="dBZ", dtype="float32")
            _put(group.create_group("PRE"), "binRealSurface", np.full(np.shape(spec["precip"]), 170.0), f"nscan,nray{suffix}",
                 dtype="int16")
    return Path(path)
