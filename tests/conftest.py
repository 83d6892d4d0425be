"""Shared fixtures of the averse test suite.

The real sample files (../shared/data on CI) are reached through ``AVERSE_DATA``;
tests that need them skip with a reason when it is unset. Generated twin worlds
go to a per-session cache so the suite never touches the user's cache.
"""

import os
from pathlib import Path

import pyproj  # noqa: F401  (before eccodes: the eccodes wheel ships its own libproj)
import pytest
from _run_outputs import executed, session_root

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data():
    root = os.environ.get("AVERSE_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("AVERSE_DATA is not set to the shared sample folder")
    return Path(root)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One intra-op torch thread per test process, from the start of the session.

    The suite runs two processes on two cores: with more threads, OpenMP spins
    at every barrier while the other thread is descheduled, and the same small
    training loop costs 5–10× more CPU time.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session", autouse=True)
def _session_twin_cache(tmp_path_factory):
    """Point the twin-world cache at a folder of the test run, never the user's cache.

    ``tests/run.sh`` sets ``AVERSE_TEST_CACHE`` so that pytest-xdist workers share
    one cache (the twin reader locks a store while it generates it).
    """
    previous = os.environ.get("AVERSE_CACHE")
    shared = os.environ.get("AVERSE_TEST_CACHE")
    os.environ["AVERSE_CACHE"] = shared or str(tmp_path_factory.mktemp("averse_cache"))
    yield
    if previous is None:
        os.environ.pop("AVERSE_CACHE", None)
    else:
        os.environ["AVERSE_CACHE"] = previous


@pytest.fixture(scope="session")
def run_outputs(tmp_path_factory):
    """Run notebooks into the session's shared run folder: ``run_outputs(*stems) -> folder``.

    Each notebook runs once per session (whichever worker asks first); a test
    asking for a notebook that failed fails with the notebook's error.
    """
    root = session_root(tmp_path_factory)

    def run(*stems: str) -> Path:
        for stem in stems:
            outcome = executed(root, stem)
            if not outcome.ok:
                pytest.fail(f"{stem} failed on the test preset: {outcome.error}")
        return root

    return run
