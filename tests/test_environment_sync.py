"""pyproject.toml, environment.yml and binder/ describe the same package set."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# PyPI name -> conda-forge name, where they differ.
PIP_TO_CONDA = {
    "torch": "pytorch",
    "opencv-python-headless": "opencv",
    "eccodes": "python-eccodes",
    "netcdf4": "netcdf4",
}
# A PyPI extra that conda-forge ships as a package of its own.
EXTRA_PACKAGES = {("dask", "distributed"): "distributed"}

_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$")


def _pip_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        reqs.extend(group)
    out = {}
    for req in reqs:
        name, extras, spec = _REQ.match(req).groups()
        name = name.lower()
        spec = spec.replace("==", "=").replace(" ", "")
        out[PIP_TO_CONDA.get(name, name)] = spec
        for extra in (extras or "[]").strip("[]").split(","):
            if (name, extra.strip()) in EXTRA_PACKAGES:
                out[EXTRA_PACKAGES[(name, extra.strip())]] = spec
    return out


def _conda_packages(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge"], f"{path}: conda-forge only"
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", dep).groups()
            out[name.lower()] = spec.replace(" ", "")
    return env, out


def test_environment_yml_matches_pyproject():
    _, conda = _conda_packages(REPO / "environment.yml")
    pip = _pip_requirements()
    conda_only = {"python", "pip"}
    assert {k: v for k, v in conda.items() if k not in conda_only} == pip


def test_environment_yml_installs_the_project_with_pip():
    env, _ = _conda_packages(REPO / "environment.yml")
    pip_section = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section and "-e ." in pip_section[0]["pip"]


def test_binder_environment_is_the_same_package_set():
    _, top = _conda_packages(REPO / "environment.yml")
    _, binder = _conda_packages(REPO / "binder" / "environment.yml")
    assert binder == top
    assert "pip install --no-deps -e ." in (REPO / "binder" / "postBuild").read_text()


def test_every_pip_call_pins_torch_through_the_constraints_file():
    assert (REPO / "binder" / "constraints.txt").read_text().split() == ["torch==2.13.0"]
    for script in ["tests/setup_env.sh", "README.md"]:
        text = (REPO / script).read_text()
        calls = [line for line in text.splitlines() if re.search(r"pip install", line)]
        assert calls, f"{script} installs nothing?"
        for line in calls:
            assert "-c binder/constraints.txt" in line, f"{script}: pip call without the constraints file: {line}"


def test_no_dependency_drags_in_torchvision():
    assert "torchvision" not in (REPO / "pyproject.toml").read_text()
    import importlib.metadata as md

    assert not any((d.metadata["Name"] or "").lower() == "torchvision" for d in md.distributions())
