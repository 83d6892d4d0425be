"""The catalog: entries, roots from the environment, clear errors."""

import pytest

import averse
from averse.catalog import load_catalog
from averse.errors import CatalogError, DataNotFoundError


def test_catalog_lists_the_shared_formats_and_the_twin():
    catalog = load_catalog()
    for name in ["twin", "twin_med", "twin_xband", "opera_odyssey", "meteonet_nw", "nwcsaf_crr",
                 "imerg_v07", "imerg_v06", "gpm_1c_gmi", "gpm_2a_dpr", "mnist_test"]:
        assert name in catalog
    for entry in catalog.entries.values():
        if entry.path is not None:
            assert entry.root == "data", entry.name


def test_missing_root_names_the_entry_and_the_variable(monkeypatch):
    monkeypatch.delenv("AVERSE_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match=r"opera_odyssey.*AVERSE_DATA"):
        averse.open_dataset("opera_odyssey")


def test_root_pointing_nowhere_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AVERSE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match="does not exist"):
        averse.open_dataset("meteonet_nw")


def test_missing_files_name_the_pattern(monkeypatch, tmp_path):
    monkeypatch.setenv("AVERSE_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=r"nwcsaf_crr.*no file matches"):
        averse.open_dataset("nwcsaf_crr")


def test_unknown_name_lists_entries():
    with pytest.raises(CatalogError, match="known entries"):
        averse.open_dataset("no_such_thing")


def test_catalog_is_read_with_safe_load(tmp_path):
    bad = tmp_path / "cat.yaml"
    bad.write_text("entries: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(Exception) as info:
        load_catalog(bad)
    assert "ConstructorError" in type(info.value).__name__ or isinstance(info.value, CatalogError)


def test_malformed_entry(tmp_path):
    bad = tmp_path / "cat.yaml"
    bad.write_text("entries:\n  a: {path: x}\n")
    with pytest.raises(CatalogError, match="needs a 'reader'"):
        load_catalog(bad)


def test_every_catalog_file_entry_opens_on_the_shared_samples(shared_data):
    catalog = load_catalog()
    for name, entry in catalog.entries.items():
        if entry.path is None:
            continue
        obj = averse.open_dataset(name)
        assert obj is not None, name
