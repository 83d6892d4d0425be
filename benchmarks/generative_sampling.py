"""Flow matching against DDIM: network evaluations, time and CRPS per ensemble member.

The design target (DESIGN.md): flow matching with at most 10 network
evaluations (NFE) per member reaching the CRPS of DDIM with 50 or more.

On a conditional toy problem with a known answer (:mod:`averse.models.toy`),
a flow-matching model and a DDPM with the same network, trained for the same
number of steps on the same batches, are sampled with

- flow matching: Euler and Heun with 2, 5 and 10 steps (Heun: 2 NFE per step);
- DDIM (η = 0): 10, 25, 50 and 100 steps (1 NFE per step);

and every ensemble is scored with the CRPS of :func:`averse.verify.crps`
against one draw of the truth per pixel. The CRPS of an ensemble of the same
size drawn from the true conditional distribution is the floor. Also printed:
the bias (members minus the true conditional mean, averaged) and the spread
ratio sqrt(mean ensemble variance / mean true variance). NFE is counted (calls
of the network); wall time is per member and per field, on one thread.

    .venv/bin/python benchmarks/generative_sampling.py                  # bimodal, pixel MLP
    .venv/bin/python benchmarks/generative_sampling.py --denoiser unet --problem gaussian
"""

from __future__ import annotations

import argparse
import time

import torch
import xarray as xr

from averse import models
from averse.models import toy
from averse.models.transforms import Identity
from averse.verify import crps

FLOW_SAMPLERS = [(method, steps) for method in ("euler", "heun") for steps in (2, 5, 10)]
DDIM_STEPS = (10, 25, 50, 100)


def ensemble_crps(members: torch.Tensor, truth: torch.Tensor) -> float:
    """CRPS of ``members`` ``(B, N, 1, H, W)`` against ``truth`` ``(B, 1, H, W)``, all pixels pooled."""
    forecast = xr.DataArray(members[:, :, 0].numpy(), dims=("case", "member", "y", "x"))
    observation = xr.DataArray(truth[:, 0].numpy(), dims=("case", "y", "x"))
    return float(crps(forecast, observation, aggregate_dims=("case",)))


def train(name: str, args: argparse.Namespace) -> tuple[models.generative.GenerativeRetrieval, float]:
    """A model trained on the toy problem, and the training time in seconds."""
    torch.manual_seed(args.seed)
    options = {"widths": (16, 32)} if args.denoiser == "unet" else {}
    model = models.get(name, n_times=1, n_channels=1, denoiser=args.denoiser, transform=Identity(), **options)
    start = time.perf_counter()
    toy.fit(model, args.toy, n_steps=args.train_steps, batch=args.batch, size=args.train_size,
            generator=torch.Generator().manual_seed(args.seed + 1))
    return model, time.perf_counter() - start


def score(model, cond, truth, args, seed_offset: int = 2, **options) -> dict:
    """Sample an ensemble and measure it."""
    start = time.perf_counter()
    members = model.sample(cond, n_members=args.members, generator=args.seed + seed_offset, **options)
    elapsed = time.perf_counter() - start
    values = members[:, :, 0]
    condition = cond[:, 0, 0].unsqueeze(1)
    return {
        "nfe": model.last_nfe,
        "ms_per_member": 1e3 * elapsed / (cond.shape[0] * args.members),
        "crps": ensemble_crps(members, truth),
        "bias": float((values - args.toy.mean(condition)).mean()),
        "spread_ratio": float((values.var(1).mean() / args.toy.std(condition).pow(2).mean()).sqrt()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problem", choices=toy.KINDS, default="bimodal")
    parser.add_argument("--denoiser", choices=("pixel", "unet"), default="pixel")
    parser.add_argument("--train-steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=8)
    parser.add_argument("--fields", type=int, default=8, help="evaluation fields")
    parser.add_argument("--size", type=int, default=32, help="side of the evaluation fields")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.toy = toy.ConditionalToy(args.problem)

    generator = torch.Generator().manual_seed(args.seed + 3)
    evaluation = args.toy.draw(args.fields, args.size, generator)
    cond, truth = evaluation["ir"], evaluation["target"]
    ideal = args.toy.draw_targets(cond[:, 0, 0].unsqueeze(1), args.members, generator)
    floor = ensemble_crps(ideal, truth)

    flow_model, flow_seconds = train("flow_matching", args)
    ddpm_model, ddpm_seconds = train("ddpm", args)
    print(f"toy {args.problem!r}, {args.denoiser} denoiser, {args.train_steps} training steps "
          f"(flow {flow_seconds:.0f} s, DDPM {ddpm_seconds:.0f} s), {args.fields} fields of "
          f"{args.size}², {args.members} members, {torch.get_num_threads()} thread(s)")
    print(f"CRPS of {args.members} draws from the true distribution: {floor:.4f}\n")

    rows = [(f"flow {method}", steps, score(flow_model, cond, truth, args, n_steps=steps, method=method))
            for method, steps in FLOW_SAMPLERS]
    rows += [("DDIM eta=0", steps, score(ddpm_model, cond, truth, args, n_steps=steps)) for steps in DDIM_STEPS]
    print(f"{'sampler':<12}{'steps':>6}{'NFE':>6}{'ms/member':>11}{'CRPS':>9}{'-floor':>9}"
          f"{'bias':>9}{'spread/true':>13}")
    for label, steps, r in rows:
        print(f"{label:<12}{steps:>6}{r['nfe']:>6}{r['ms_per_member']:>11.2f}{r['crps']:>9.4f}"
              f"{r['crps'] - floor:>9.4f}{r['bias']:>9.3f}{r['spread_ratio']:>13.3f}")

    best_flow = min((r["crps"], label, steps) for label, steps, r in rows
                    if label.startswith("flow") and r["nfe"] <= 10)
    ddim_50 = [r["crps"] for label, steps, r in rows if label.startswith("DDIM") and steps >= 50]
    # Monte Carlo noise of a CRPS: the same sampler with other members.
    method, steps = best_flow[1].split()[1], best_flow[2]
    again = score(flow_model, cond, truth, args, seed_offset=4, n_steps=steps, method=method)["crps"]
    verdict = "reached" if best_flow[0] <= min(ddim_50) else "NOT reached"
    print(f"\ntarget {verdict}: best flow matching with <= 10 NFE ({best_flow[1]}, {steps} steps) "
          f"CRPS {best_flow[0]:.4f} vs best DDIM with >= 50 steps {min(ddim_50):.4f} "
          f"(difference {best_flow[0] - min(ddim_50):+.4f}; the same flow sampler with other "
          f"members: {again:.4f}; floor {floor:.4f})")


if __name__ == "__main__":
    main()
