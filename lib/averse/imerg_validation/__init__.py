"""IMERG validation against radar, pixel by pixel and in a Topographic VAE latent space.

IMERG (0.1° / 30 min) merges microwave overpasses of many sensors, morphed
between overpasses and blended with IR. Validated pixel by pixel against
radar with all half hours pooled, its scores mix estimates of very different
kinds. This package keeps them apart:

- :mod:`~.colocation` — radar (1 km / 5 min) to IMERG's cells and half hours,
  time conventions explicit (radar: end of the 5 min; IMERG: files stamped
  by the start, ``time`` = end after reading);
- :mod:`~.validation` — POD, FAR, CSI, biases and correlation stratified by
  sensor, kind of estimate, time since the overpass, IR influence and
  quality index; the expected ordering checked;
- :mod:`~.uncertainty` — block bootstrap of the stratified scores: which
  pairs of strata the sample ranks as expected, reversed or not at all;
- :mod:`~.scenes` — patches of consecutive half hours (the TVAE's inputs);
- :mod:`~.latent` — a Topographic VAE of radar scenes, an IMERG decoder
  (IMERG generated from the radar latent) and an IMERG encoder (IMERG placed
  on the radar latent), and the latent distance between the two embeddings;
- :mod:`~.workflow` — the steps notebooks 31-33 chain;
- :mod:`~.inspection` — projections, traversals and capsule rolls (notebook 32).
"""

from averse.imerg_validation.colocation import (
    HALF_HOUR,
    NoColocatedDataError,
    colocate,
    imerg_end_from_file_start,
    radar_frames_of_half_hour,
    radar_half_hours,
)
from averse.imerg_validation.latent import LatentConfig, LatentModels, load_models, save_models
from averse.imerg_validation.scenes import Scenes, cut_scenes
from averse.imerg_validation.uncertainty import bootstrap_scores, ordering_test, time_blocks
from averse.imerg_validation.validation import (
    SENSORS,
    SOURCE_KINDS,
    Stratification,
    minutes_to_overpass,
    ordering_verdict,
    stratified_scores,
    stratify,
    validate,
)

__all__ = [
    "HALF_HOUR",
    "NoColocatedDataError",
    "colocate",
    "imerg_end_from_file_start",
    "radar_frames_of_half_hour",
    "radar_half_hours",
    "LatentConfig",
    "LatentModels",
    "load_models",
    "save_models",
    "Scenes",
    "cut_scenes",
    "bootstrap_scores",
    "ordering_test",
    "time_blocks",
    "SENSORS",
    "SOURCE_KINDS",
    "Stratification",
    "minutes_to_overpass",
    "ordering_verdict",
    "stratified_scores",
    "stratify",
    "validate",
]
