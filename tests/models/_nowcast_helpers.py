"""Helpers shared by the model tests: a learnable toy problem and a tiny training loop."""

import torch
import torch.nn.functional as F

from averse.models import masked_mse


def moving_blobs(generator: torch.Generator, batch: int, steps: int, size: int) -> torch.Tensor:
    """``(batch, steps, size, size)`` smooth random fields advected one pixel per step.

    Twice-smoothed noise (9×9 boxes) scaled to unit variance, rolled diagonally:
    the simplest sequence with the structure of a nowcasting problem.
    """
    box = 9
    noise = torch.randn(batch, 1, size + 2 * box, size + 2 * box, generator=generator)
    field = F.avg_pool2d(F.avg_pool2d(noise, box, stride=1), box, stride=1)[:, 0, :size, :size]
    field = field / field.std()
    frames = [torch.roll(field, shifts=(t, t), dims=(-2, -1)) for t in range(steps)]
    return torch.stack(frames, dim=1)


def train_steps(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                steps: int, lr: float = 3e-3) -> tuple[float, float]:
    """Fit one batch with Adam; return the loss before the first and after the last step."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    first = None
    for _ in range(steps):
        optimiser.zero_grad()
        loss = masked_mse(model(x), y)
        loss.backward()
        optimiser.step()
        first = loss.item() if first is None else first
    with torch.no_grad():
        last = masked_mse(model(x), y).item()
    return first, last
