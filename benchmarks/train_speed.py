"""Training samples per second of SmaAt-UNet on 128 × 128 crops, on the device ``"auto"`` finds.

Two numbers per configuration:

- ``network``: forward + backward + AdamW step on batches already on the device
  (the ceiling set by the network and the device);
- ``fit``: the same steps inside :func:`averse.train.fit` — loader, transform,
  Lightning loop — timed by a callback from the first batch after ``--warmup``.

Configurations: the published SmaAt-UNet (12 frames in, one lead out: 30 min at
5-min steps) and its multi-lead variant (6 in, 12 out). The data are a synthetic
zarr store of smooth moving rain (``benchmarks/loader_speed.py``) unless
``--twin DAYS`` asks for the twin world.

    .venv/bin/python benchmarks/train_speed.py [--batch 8] [--steps 20] [--device auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import xarray as xr
from lightning.pytorch.callbacks import Callback

from averse import models
from averse.train import RegressionTask, TrainConfig, fit, resolve_device, resolve_precision
from loader_speed import synthetic_store

CONFIGS = {
    "smaat_unet 12→1 (lead 6)": dict(model="smaat_unet", n_in=12, n_out=6, task_kwargs={"lead": 6}),
    "smaat_unet_multilead 6→12": dict(model="smaat_unet_multilead", n_in=6, n_out=12, task_kwargs={}),
}


class _Throughput(Callback):
    """Samples per second of the training batches after ``warmup`` of them."""

    def __init__(self, warmup: int):
        self.warmup, self.samples, self.start = warmup, 0, None

    def _sync(self, trainer):
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.warmup and self.start is None:
            self._sync(trainer)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.start is not None:
            self.samples += len(batch["radar"])

    def on_train_end(self, trainer, pl_module):
        self._sync(trainer)
        self.rate = self.samples / (time.perf_counter() - self.start)


def network_rate(name: str, spec: dict, batch: int, steps: int, device: str, precision: str) -> float:
    """Samples/s of bare training steps on random batches already on the device."""
    config = models.InputConfig(n_in=spec["n_in"], n_out=spec["n_out"])
    task = RegressionTask(spec["model"], input_config=config, **spec["task_kwargs"]).to(device)
    optimiser = task.configure_optimizers()
    data = {"radar": torch.rand(batch, spec["n_in"], 128, 128, device=device) * 5,
            "target": torch.rand(batch, spec["n_out"], 128, 128, device=device) * 5}
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(enabled=precision == "16-mixed")

    def step():
        with torch.autocast(device_type=device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            loss = task._loss(data)[0]
        optimiser.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()

    for _ in range(3):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    parser.add_argument("--twin", type=int, default=None, help="days of the twin world instead of synthetic data")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    accelerator, devices = resolve_device(args.device)
    device = f"cuda:{devices[0]}" if isinstance(devices, list) else accelerator
    precision = resolve_precision("auto", accelerator)
    name = torch.cuda.get_device_name(device) if accelerator == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; precision {precision}; batch {args.batch}; 128 × 128 crops")

    with tempfile.TemporaryDirectory() as tmp:
        if args.twin:
            source, source_kwargs = "twin", {"days": args.twin}
        else:
            path = synthetic_store(Path(tmp) / "train.zarr", frames=600, size=256, chunk=4)
            source, source_kwargs = xr.open_zarr(path, consolidated=False), {}
        for label, spec in CONFIGS.items():
            bare = network_rate(label, spec, args.batch, args.steps, device, precision)
            meter = _Throughput(args.warmup)
            config = TrainConfig(
                model=spec["model"], task_kwargs=spec["task_kwargs"], epochs=1, batch_size=args.batch,
                num_workers=args.workers, device=args.device, progress_bar=False, out_dir=str(Path(tmp) / label),
                max_steps=args.warmup + args.steps, limit_val_batches=0,
                data={"source": source, "source_kwargs": source_kwargs, "n_in": spec["n_in"],
                      "n_out": spec["n_out"], "crop": 128, "split": {"block": "6h", "fractions": (1, 0, 0)}},
            )
            fit(config, callbacks=[meter])
            print(f"{label:<28s} network {bare:8.1f} samples/s   fit {meter.rate:8.1f} samples/s")


if __name__ == "__main__":
    main()
