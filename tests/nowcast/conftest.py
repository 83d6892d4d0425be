"""Fixtures of the nowcasting-experiment tests; the toy data builders live in ``_nowcast_toys``."""

from _nowcast_toys import moving_world, persistence_task  # noqa: F401  (fixtures)
