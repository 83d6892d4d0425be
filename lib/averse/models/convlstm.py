"""ConvLSTM encoder–forecaster for radar nowcasting.

After Shi et al. (2015), "Convolutional LSTM Network: A Machine Learning
Approach for Precipitation Nowcasting" (NeurIPS): a stack of ConvLSTM layers
encodes the input sequence; a second stack, started from the encoder's final
states and given no input, unrolls them into the future frames. As in the
encoder–forecaster of Shi et al. (2017, TrajGRU paper) each level works at half
the resolution of the one below it (stride-2 convolutions on the way in,
bilinear upsampling + convolution on the way out), which makes 128×128 inputs
cheap enough for a CPU.

Differences from the 2015 paper, on purpose: no peephole connections (their
weights would be tied to one grid size), and the forecaster feeds each level
from the level above instead of concatenating all states for the output.

Data flow, for ``hidden_channels=(h0, h1, h2)`` and an ``H×W`` input::

    encoder   x_t ─conv/2─▶ LSTM0 (h0, H/2) ─conv/2─▶ LSTM1 (h1, H/4) ─conv/2─▶ LSTM2 (h2, H/8)
                               │ state               │ state               │ state
    forecaster  head ◀─up─ LSTM0 ◀──────up─────── LSTM1 ◀──────up─────── LSTM2 (no input)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from averse.models._registry import register
from averse.models.inputs import InputConfig

__all__ = ["ConvLSTMCell", "ConvLSTMEncoderForecaster"]

State = tuple[torch.Tensor, torch.Tensor]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer: LSTM gates computed by a convolution over ``[x, h]``.

    Parameters
    ----------
    in_channels : int
        Channels of the input; 0 for a cell that only sees its own state.
    hidden_channels : int
        Channels of the hidden and cell states.
    kernel_size : int
        Odd kernel of the gate convolution.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels,
                               kernel_size, padding=kernel_size // 2)

    def initial_state(self, like: torch.Tensor, height: int, width: int) -> State:
        """Zero ``(h, c)`` on the device and with the dtype of ``like``."""
        zeros = like.new_zeros(like.shape[0], self.hidden_channels, height, width)
        return zeros, zeros

    def forward(self, x: torch.Tensor | None, state: State) -> State:
        """Advance one step; ``x`` is ``(B, in_channels, H, W)`` or None if ``in_channels == 0``."""
        h, c = state
        z = self.gates(h if x is None else torch.cat([x, h], dim=1))
        i, f, g, o = z.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def unroll(
        self, inputs: torch.Tensor | None, state: State, steps: int
    ) -> tuple[torch.Tensor, State]:
        """Run ``steps`` steps over ``inputs`` ``(B, steps, C, H, W)`` (or no input).

        Returns
        -------
        outputs : torch.Tensor
            ``(B, steps, hidden_channels, H, W)`` hidden states.
        state : tuple of torch.Tensor
            The final ``(h, c)``.
        """
        outputs = []
        for t in range(steps):
            state = self(None if inputs is None else inputs[:, t], state)
            outputs.append(state[0])
        return torch.stack(outputs, dim=1), state


def _conv_act(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
    )


def _per_frame(
    module: nn.Module, seq: torch.Tensor, size: tuple[int, int] | None = None
) -> torch.Tensor:
    """Apply a 2-D ``module`` to every frame of ``(B, T, C, H, W)``, resizing first if asked."""
    batch, steps = seq.shape[:2]
    frames = seq.flatten(0, 1)
    if size is not None:
        frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False)
    out = module(frames)
    return out.unflatten(0, (batch, steps))


@register("convlstm")
class ConvLSTMEncoderForecaster(nn.Module):
    """Maps ``(B, T_in, in_channels, H, W)`` to ``(B, n_out, H, W)``.

    Parameters
    ----------
    in_channels : int
        Channels per time step (``InputConfig.n_channels_per_step``: 1 for radar only).
    n_out : int
        Number of future frames to produce.
    hidden_channels : sequence of int
        Hidden channels of each level, finest first; level ``l`` works at
        ``1 / 2 ** (l + 1)`` of the input resolution.
    kernel_size : int
        Kernel of the ConvLSTM gate convolutions.

    Notes
    -----
    Any ``T_in`` works. ``H`` and ``W`` need not be multiples of
    ``2 ** len(hidden_channels)``: the forecaster resizes to the sizes the
    encoder saw. The output frames are in the transformed space of the targets
    (no output activation).
    """

    input_layout = "sequence"
    multi_lead = True

    def __init__(self, in_channels: int = 1, n_out: int = 12,
                 hidden_channels: Sequence[int] = (32, 64, 64), kernel_size: int = 3):
        super().__init__()
        hidden = tuple(int(h) for h in hidden_channels)
        if not hidden:
            raise ValueError("hidden_channels needs at least one level")
        self.in_channels = in_channels
        self.n_out = n_out
        below = (in_channels,) + hidden[:-1]
        self.encoder_down = nn.ModuleList(_conv_act(b, h, stride=2) for b, h in zip(below, hidden))
        self.encoder_cells = nn.ModuleList(ConvLSTMCell(h, h, kernel_size) for h in hidden)
        # Forecaster, finest level first like the encoder; the top level has no input.
        self.forecaster_up = nn.ModuleList(_conv_act(a, h) for h, a in zip(hidden[:-1], hidden[1:]))
        self.forecaster_cells = nn.ModuleList(
            ConvLSTMCell(0 if level == len(hidden) - 1 else h, h, kernel_size)
            for level, h in enumerate(hidden)
        )
        self.head = nn.Sequential(_conv_act(hidden[0], hidden[0]), nn.Conv2d(hidden[0], 1, 1))

    @classmethod
    def from_config(cls, config: InputConfig, **kwargs) -> ConvLSTMEncoderForecaster:
        """Build the model for an :class:`~averse.models.InputConfig` (sequence layout)."""
        kwargs.setdefault("n_out", config.n_out)
        return cls(in_channels=config.n_channels_per_step, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode ``(B, T_in, in_channels, H, W)`` and forecast ``(B, n_out, H, W)``."""
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects (B, T, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}"
            )
        steps_in = x.shape[1]
        states, sizes = [], []
        seq = x
        for down, cell in zip(self.encoder_down, self.encoder_cells):
            seq = _per_frame(down, seq)
            sizes.append(tuple(seq.shape[-2:]))
            seq, state = cell.unroll(seq, cell.initial_state(seq, *sizes[-1]), steps_in)
            states.append(state)

        top = len(self.forecaster_cells) - 1
        seq, _ = self.forecaster_cells[top].unroll(None, states[top], self.n_out)
        for level in reversed(range(top)):
            seq = _per_frame(self.forecaster_up[level], seq, size=sizes[level])
            seq, _ = self.forecaster_cells[level].unroll(seq, states[level], self.n_out)
        frames = _per_frame(self.head, seq, size=tuple(x.shape[-2:]))
        return frames.squeeze(2)
