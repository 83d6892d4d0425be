"""Fractions skill score (FSS) over neighbourhoods, for all frames at once.

Definition (Roberts and Lean 2008, as pysteps' ``spatialscores.fss``): an
event is ``value >= threshold`` (note: ``>=``, where the categorical scores
use ``>``); the event fraction of a pixel is the mean of the binary field in a
square window of ``s`` pixels centred on it; FSS = 1 - sum (Pf - Po)^2 /
sum (Pf^2 + Po^2), sums over the pixels (and over the cases when aggregated,
as ``fss_accum`` does).

Window conventions, identical to ``scipy.ndimage.uniform_filter(size=s,
mode="constant", cval=0)`` used by pysteps:

* the window of pixel ``i`` covers ``i - s//2 ... i + (s-1)//2`` on each axis:
  centred for odd ``s``, half a pixel towards the lower indices for even ``s``;
* outside the domain counts as "no event", and the fraction always divides by
  ``s**2`` (windows overlapping the edge see fewer possible events);
* NaN counts as "no event" (pysteps sets NaN to ``threshold - 1``); pixels
  where either field is NaN still count in the sums. This is pysteps'
  behaviour, which we match exactly; mask the domain yourself if you need
  another convention.

Scales are given in pixels here; :func:`scales_to_pixels` converts km with the
grid spacing (``L / dx`` pixels rounded half up, at least 1).

Algorithm: for each threshold the binary sums ``a = If + Io`` and
``d = If - Io`` get one summed-area table (two cumulative sums); the window
counts of every scale are four-corner differences of that table, taken
modulo 2**16 and read as signed 16-bit integers (32-bit for windows wider than
127 pixels): exact, because every count lies within +-2 s^2 < 2**15; then
``sum (Pf - Po)^2 = sum d_s^2 / s^4`` and
``sum (Pf^2 + Po^2) = (sum a_s^2 + sum d_s^2) / (2 s^4)``, summed in int64,
exactly. The work is done on blocks of frames that fit in the cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from averse.verify._core import apply_kernel, as_tuple, frame_blocks, frames_of, grid_spacing_km, present, split_statistics

__all__ = ["FSS_STATISTICS", "scales_to_pixels", "fss_statistics", "fss_from_statistics", "fss"]

FSS_STATISTICS = ("fss_numerator", "fss_denominator")


def scales_to_pixels(scales_km: Sequence[float], spacing_km: float) -> tuple[int, ...]:
    """Window sizes in pixels for neighbourhood sizes in km: ``max(1, floor(L / dx + 1/2))``.

    Halves round up (5 km on a 2 km grid is 3 pixels).
    """
    if spacing_km <= 0:
        raise ValueError(f"grid spacing must be positive, got {spacing_km}")
    return tuple(max(1, int(np.floor(float(scale) / spacing_km + 0.5))) for scale in as_tuple(scales_km))


def _count_types(max_scale: int):
    """Wrapping unsigned type, its signed view, and the type of squares, for windows up to ``max_scale``."""
    if 2 * max_scale**2 < 2**15:
        return np.uint16, np.int16, np.int32
    return np.uint32, np.int32, np.int64


def _fss_kernel(forecast, observation, thresholds: tuple[float, ...], scales: tuple[int, ...]):
    """Per-frame FSS sums, shape ``lead + (thresholds, scales, 2)``."""
    forecast, observation = np.broadcast_arrays(forecast, observation)
    lead, fcst = frames_of(forecast, 2)
    _, obs = frames_of(observation, 2)
    n_frames, ny, nx = fcst.shape
    halves = [s // 2 for s in scales]
    before = max(halves)  # SAT padding: window starts reach `before` pixels above/left of the domain
    after = max(s - h - 1 for s, h in zip(scales, halves))
    wrap_type, signed_type, square_type = _count_types(max(scales))
    out = np.empty((n_frames, len(thresholds), len(scales), 2))
    blocks = list(frame_blocks(n_frames, 16 * ny * nx))  # about 16 bytes of work buffers per pixel
    n_block = blocks[0].stop - blocks[0].start
    padded = (nx + before + after + 1, ny + before + after + 1)
    # work buffers allocated once, reused by every block (allocation is not free)
    events = np.empty((2, n_block, ny, nx), dtype=bool)
    sums_buffer = np.empty((2, n_block, ny, nx), dtype=np.int32)  # a = If + Io, d = If - Io
    sums_t_buffer = np.empty((2, n_block, nx, ny), dtype=np.int32)
    # summed-area table, transposed (x, y), with a zero row/column in front and
    # padding that repeats the edge values, so that every window is a plain slice
    table_buffer = np.zeros((2, n_block) + padded, dtype=wrap_type)
    rows_buffer = np.empty((2, n_block, nx, padded[1]), dtype=wrap_type)
    counts_buffer = np.empty((2, n_block, nx, ny), dtype=wrap_type)
    squares_buffer = np.empty((2, n_block, nx * ny), dtype=square_type)
    for block in blocks:
        f, o = fcst[block], obs[block]
        n = f.shape[0]
        event_f, event_o = events[:, :n]
        sums, sums_t, table = sums_buffer[:, :n], sums_t_buffer[:, :n], table_buffer[:, :n]
        rows, counts, squares = rows_buffer[:, :n], counts_buffer[:, :n], squares_buffer[:, :n]
        inner = table[:, :, before + 1 : before + 1 + nx, before + 1 : before + 1 + ny]
        for t_index, threshold in enumerate(thresholds):
            np.greater_equal(f, threshold, out=event_f)  # NaN >= t is False: NaN is "no event"
            np.greater_equal(o, threshold, out=event_o)
            np.add(event_f, event_o, out=sums[0], dtype=np.int32)
            np.subtract(event_f, event_o, out=sums[1], dtype=np.int32)
            np.cumsum(sums, axis=-1, out=sums)
            np.copyto(sums_t, sums.transpose(0, 1, 3, 2))
            np.cumsum(sums_t, axis=-1, out=sums_t)
            np.copyto(inner, sums_t, casting="unsafe")  # modulo 2**16 (or 2**32)
            table[..., before + 1 + ny :] = table[..., before + ny : before + 1 + ny]
            table[:, :, before + 1 + nx :, :] = table[:, :, before + nx : before + 1 + nx, :]
            for s_index, (scale, half) in enumerate(zip(scales, halves)):
                low, high = before - half, before - half + scale
                np.subtract(table[:, :, high : high + nx, :], table[:, :, low : low + nx, :], out=rows)
                np.subtract(rows[..., high : high + ny], rows[..., low : low + ny], out=counts)
                signed = counts.view(signed_type).reshape(2, n, nx * ny)
                np.square(signed, out=squares, dtype=square_type)
                sum_a, sum_d = squares.sum(axis=-1, dtype=np.int64)
                norm = float(scale) ** 4
                out[block, t_index, s_index, 0] = sum_d / norm
                out[block, t_index, s_index, 1] = (sum_a + sum_d) / (2.0 * norm)
    return out.reshape(lead + (len(thresholds), len(scales), 2))


def fss_statistics(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    thresholds: float | Sequence[float],
    scales: int | Sequence[int],
    dims: Sequence[str] = ("y", "x"),
) -> xr.Dataset:
    """Per-case FSS sums for every threshold and window size.

    Parameters
    ----------
    forecast, observation : xr.DataArray
        Fields that broadcast against each other.
    thresholds : float or sequence of float
        Event thresholds (event = ``value >= threshold``).
    scales : int or sequence of int
        Window sizes in pixels.
    dims : (str, str)
        The two spatial dims, in (row, column) order.

    Returns
    -------
    xr.Dataset
        ``fss_numerator`` = sum (Pf - Po)^2 and ``fss_denominator`` =
        sum (Pf^2 + Po^2), by ``threshold`` and ``scale`` (pixels); sum them
        over cases, then use :func:`fss_from_statistics`.
    """
    dims = tuple(dims)
    if len(dims) != 2:
        raise ValueError(f"FSS needs exactly two spatial dims, got {dims}")
    thresholds = tuple(float(t) for t in as_tuple(thresholds))
    scales = tuple(int(s) for s in as_tuple(scales))
    if min(scales) < 1:
        raise ValueError(f"window sizes must be at least one pixel, got {scales}")
    stacked = apply_kernel(
        _fss_kernel,
        forecast,
        observation,
        core_dims=dims,
        new_dims={"threshold": len(thresholds), "scale": len(scales), "statistic": len(FSS_STATISTICS)},
        dtype=np.float64,
        kwargs={"thresholds": thresholds, "scales": scales},
    )
    statistics = split_statistics(stacked, FSS_STATISTICS).assign_coords(threshold=list(thresholds))
    statistics = statistics.assign_coords(scale=list(scales))
    statistics["threshold"].attrs.update(units=forecast.attrs.get("units", "mm h-1"))
    statistics["scale"].attrs.update(long_name="window size", units="pixels")
    return statistics


def fss_from_statistics(statistics: xr.Dataset) -> xr.DataArray:
    """FSS = 1 - numerator / denominator (NaN when neither field has an event)."""
    denominator = statistics["fss_denominator"]
    score = 1.0 - statistics["fss_numerator"] / denominator.where(denominator > 0)
    return score.rename("fss").assign_attrs(long_name="fractions skill score", units="1", comment="event: value >= threshold")


def fss(
    forecast: xr.DataArray,
    observation: xr.DataArray,
    thresholds: float | Sequence[float],
    scales_km: float | Sequence[float] | None = None,
    dims: Sequence[str] = ("y", "x"),
    aggregate_dims: Sequence[str] = ("time",),
    scales_pixels: int | Sequence[int] | None = None,
    grid_spacing: float | None = None,
) -> xr.DataArray:
    """Fractions skill score by threshold and neighbourhood size.

    Parameters
    ----------
    forecast, observation : xr.DataArray
        Fields on the same regular grid, broadcasting against each other.
    thresholds : float or sequence of float
        Event thresholds (event = ``value >= threshold``, as pysteps).
    scales_km : float or sequence of float, optional
        Neighbourhood sizes in km, converted with :func:`scales_to_pixels`.
    dims : (str, str)
        Spatial dims (row, column); the column dim carries the x coordinate.
    aggregate_dims : sequence of str
        Case dims whose sums are added before scoring; ``()`` for per case.
    scales_pixels : int or sequence of int, optional
        Window sizes in pixels, instead of ``scales_km``.
    grid_spacing : float, optional
        Grid spacing in km; read from the x coordinate when not given.

    Returns
    -------
    xr.DataArray
        ``fss`` by ``threshold`` and ``scale`` (km when ``scales_km`` was
        given, with the window size in a ``scale_pixels`` coordinate).
    """
    if (scales_km is None) == (scales_pixels is None):
        raise ValueError("give exactly one of scales_km and scales_pixels")
    if scales_km is not None:
        spacing = grid_spacing if grid_spacing is not None else grid_spacing_km(observation, x_dim=dims[1], y_dim=dims[0])
        pixels = scales_to_pixels(scales_km, spacing)
    else:
        pixels = tuple(int(s) for s in as_tuple(scales_pixels))
    statistics = fss_statistics(forecast, observation, thresholds, pixels, dims)
    aggregate = present(aggregate_dims, forecast, observation)
    if aggregate:
        statistics = statistics.sum(aggregate)
    score = fss_from_statistics(statistics)
    if scales_km is not None:
        score = score.rename(scale="scale_pixels").assign_coords(
            scale=("scale_pixels", [float(s) for s in as_tuple(scales_km)])
        )
        score = score.swap_dims(scale_pixels="scale")
        score["scale"].attrs.update(long_name="neighbourhood size", units="km")
    return score
