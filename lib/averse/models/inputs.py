"""What a nowcasting network sees: the input configuration and its assembly.

A nowcast is made from the last ``n_in`` radar frames, optionally helped by
the terrain height (DEM), infrared channels of a geostationary imager taken at
the same times as the radar frames, and per-pixel rain statistics of the
training period (climatology: mean rate, wet fraction, a high quantile...).

Channel order (fixed; :meth:`InputConfig.channel_names` spells it out)
-----------------------------------------------------------------------
``layout="channels"`` — one ``(B, C, H, W)`` tensor for the U-Nets::

    radar[t0] ... radar[t_{n-1}]                       n_in channels, oldest first
    ir[t0, c0] ... ir[t0, c_{k-1}] ... ir[t_{n-1}, .]  n_in * len(ir_channels), time-major
    dem                                                1 channel if dem
    stats[0] ... stats[K-1]                            len(stats) channels

``layout="sequence"`` — one ``(B, T, C, H, W)`` tensor for recurrent models,
with per step: ``radar, ir[c0..c_{k-1}], dem, stats[0..K-1]``; the static
channels (DEM, statistics) are repeated at every time step.

Every part must already be transformed and free of NaN (fill missing radar
pixels with the transform's ``zero`` value, see :mod:`averse.models.transforms`):
a NaN entering a convolution spreads to its whole receptive field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["InputConfig", "assemble_inputs"]


@dataclass(frozen=True)
class InputConfig:
    """Which inputs a nowcasting model takes and how many frames it predicts.

    Parameters
    ----------
    n_in : int
        Number of past radar frames (the newest is the analysis time).
    n_out : int
        Number of lead times to predict.
    dem : bool
        Whether the terrain height is an input (one static channel).
    ir_channels : tuple of str
        Names of the infrared channels given at each of the ``n_in`` times.
    stats : tuple of str
        Names of the per-pixel statistics of the training period (static).
    """

    n_in: int = 12
    n_out: int = 12
    dem: bool = False
    ir_channels: tuple[str, ...] = ()
    stats: tuple[str, ...] = ()

    def __post_init__(self):
        if self.n_in < 1 or self.n_out < 1:
            raise ValueError(f"n_in and n_out must be >= 1, got {self.n_in}, {self.n_out}")
        # Accept lists from YAML / notebook parameters but store hashable tuples.
        object.__setattr__(self, "ir_channels", tuple(self.ir_channels))
        object.__setattr__(self, "stats", tuple(self.stats))

    @property
    def n_static(self) -> int:
        """Number of static channels (DEM and statistics)."""
        return int(self.dem) + len(self.stats)

    @property
    def n_channels_per_step(self) -> int:
        """Channels at each time step in the ``"sequence"`` layout."""
        return 1 + len(self.ir_channels) + self.n_static

    @property
    def n_channels(self) -> int:
        """Channels of the ``"channels"`` layout (the U-Nets' ``in_channels``)."""
        return self.n_in * (1 + len(self.ir_channels)) + self.n_static

    def channel_names(self, layout: Literal["channels", "sequence"] = "channels") -> list[str]:
        """Names of the input channels, in the order :func:`assemble_inputs` uses.

        Parameters
        ----------
        layout : {"channels", "sequence"}
            ``"channels"``: all ``n_channels`` names; ``"sequence"``: the
            ``n_channels_per_step`` names of one time step.

        Returns
        -------
        list of str
            E.g. ``["radar[t-11]", ..., "radar[t-0]", "ir:IR_108[t-11]", ..., "dem"]``.
        """
        static = (["dem"] if self.dem else []) + [f"stats:{name}" for name in self.stats]
        if layout == "sequence":
            return ["radar"] + [f"ir:{c}" for c in self.ir_channels] + static
        if layout != "channels":
            raise ValueError(f"layout must be 'channels' or 'sequence', got {layout!r}")
        lags = [f"t-{self.n_in - 1 - i}" for i in range(self.n_in)]
        radar = [f"radar[{lag}]" for lag in lags]
        ir = [f"ir:{c}[{lag}]" for lag in lags for c in self.ir_channels]
        return radar + ir + static


def _check(name: str, tensor: torch.Tensor, expected: tuple[int | None, ...]) -> None:
    """Raise a ValueError unless ``tensor.shape`` matches ``expected`` (None = any)."""
    shape = tuple(tensor.shape)
    mismatch = any(e is not None and e != s for e, s in zip(expected, shape))
    if len(shape) != len(expected) or mismatch:
        wanted = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{name} has shape {shape}, expected {wanted}")


def assemble_inputs(
    config: InputConfig,
    radar: torch.Tensor,
    *,
    dem: torch.Tensor | None = None,
    ir: torch.Tensor | None = None,
    stats: torch.Tensor | None = None,
    layout: Literal["channels", "sequence"] = "channels",
) -> torch.Tensor:
    """Stack the named input parts into one model input, in the documented order.

    Parameters
    ----------
    config : InputConfig
        Which parts are expected.
    radar : torch.Tensor
        ``(B, n_in, H, W)`` past radar frames, oldest first.
    dem : torch.Tensor, optional
        ``(B, 1, H, W)`` or ``(B, H, W)`` terrain height; required iff ``config.dem``.
    ir : torch.Tensor, optional
        ``(B, n_in, len(config.ir_channels), H, W)`` infrared channels at the
        radar times; required iff ``config.ir_channels``.
    stats : torch.Tensor, optional
        ``(B, len(config.stats), H, W)`` per-pixel statistics; required iff
        ``config.stats``.
    layout : {"channels", "sequence"}
        ``"channels"`` gives ``(B, config.n_channels, H, W)`` (U-Nets);
        ``"sequence"`` gives ``(B, n_in, config.n_channels_per_step, H, W)``
        (ConvLSTM) with the static parts repeated at every step.

    Returns
    -------
    torch.Tensor
        The assembled input, on the device and with the dtype of ``radar``.

    Raises
    ------
    ValueError
        If a part is missing, unexpected, or of the wrong shape.
    """
    if layout not in ("channels", "sequence"):
        raise ValueError(f"layout must be 'channels' or 'sequence', got {layout!r}")
    _check("radar", radar, (None, config.n_in, None, None))
    batch, n_in, height, width = radar.shape
    given = {"dem": dem, "ir": ir, "stats": stats}
    wanted = {"dem": config.dem, "ir": bool(config.ir_channels), "stats": bool(config.stats)}
    for name, part in given.items():
        if wanted[name] and part is None:
            raise ValueError(f"the input config asks for {name!r} but it was not given")
        if not wanted[name] and part is not None:
            raise ValueError(f"{name!r} was given but the input config does not use it")

    if dem is not None and dem.dim() == 3:
        dem = dem.unsqueeze(1)
    for name, part, expected in (
        ("dem", dem, (batch, 1, height, width)),
        ("ir", ir, (batch, n_in, len(config.ir_channels), height, width)),
        ("stats", stats, (batch, len(config.stats), height, width)),
    ):
        if part is not None:
            _check(name, part, expected)
    static = [part.to(radar) for part in (dem, stats) if part is not None]

    per_step = [radar.unsqueeze(2)] + ([ir.to(radar)] if ir is not None else [])
    if layout == "sequence":
        per_step += [s.unsqueeze(1).expand(-1, n_in, -1, -1, -1) for s in static]
        return torch.cat(per_step, dim=2)
    dynamic = [part.reshape(batch, -1, height, width) for part in per_step]
    return torch.cat(dynamic + static, dim=1)
