"""The ``averse`` command."""

import subprocess
import sys

import pytest

from averse.cli import main


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ["info", "run-notebooks", "catalog", "twin", "dashboard"]:
        assert command in out


def test_info_on_a_missing_file_fails_cleanly(capsys, tmp_path):
    code = main(["info", str(tmp_path / "nothing.h5")])
    assert code == 2
    assert "nothing.h5" in capsys.readouterr().err


def test_info_on_an_unknown_format(capsys, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a radar file")
    assert main(["info", str(junk)]) == 2
    assert "junk.bin" in capsys.readouterr().err


def test_catalog_command_runs(capsys):
    assert main(["catalog"]) == 0
    assert "opera_odyssey" in capsys.readouterr().out


def test_info_on_a_real_opera_file(shared_data, capsys):
    path = shared_data / "opera/odyssey_20180824/T_PAAH21_C_EUOC_20180824180000.hdf"
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "odim" in out and "precip" in out and "mm h-1" in out


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "averse.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "run-notebooks" in result.stdout
