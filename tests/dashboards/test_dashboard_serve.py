"""Serving and sharing: the registry, ``averse dashboard``, websocket origins, HTML export."""

from __future__ import annotations

import asyncio
import re
import socket
import time

import psutil
import pytest

from averse.cli import main
from averse.dashboards import serve as dashboards_serve
from averse.errors import AverseError


def test_websocket_origins_are_the_served_address_only():
    assert dashboards_serve.websocket_origins("127.0.0.1", 5006) == ["127.0.0.1:5006", "localhost:5006"]
    assert dashboards_serve.websocket_origins("10.0.0.5", 80, ["proxy.lab:443"]) == ["10.0.0.5:80", "proxy.lab:443"]


def test_cli_lists_the_dashboards_and_their_notebooks(capsys):
    assert main(["dashboard", "--list"]) == 0
    listing = capsys.readouterr().out
    for name, notebook in [("nowcast", "11_nowcast_evaluate"), ("irqpe", "22_irqpe_generative"),
                           ("imerg", "33_imerg_validation")]:
        assert re.search(rf"^{name}\b.*notebooks/{notebook}\.ipynb", listing, re.M)


def test_cli_refuses_an_unknown_dashboard(capsys):
    assert main(["dashboard", "radar"]) == 2
    assert "unknown dashboard 'radar'" in capsys.readouterr().err
    with pytest.raises(AverseError):
        dashboards_serve.serve("radar", start=False)


def test_cli_exports_a_snapshot(demo_results, tmp_path, capsys):
    target = tmp_path / "share" / "nowcast.html"
    assert main(["dashboard", "nowcast", "--results", str(demo_results), "--export", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert target.stat().st_size > 100_000 and "Nowcasting" in target.read_text(encoding="utf-8")


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


async def _handshake(url: str, origin: str) -> int:
    """HTTP status of a websocket handshake from ``origin`` (101 when accepted)."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    try:
        connection = await websocket_connect(HTTPRequest(url, headers={"Origin": origin}))
    except HTTPClientError as error:
        return error.code
    connection.close()
    return 101


def test_server_binds_loopback_and_refuses_foreign_websocket_origins(demo_results):
    port = dashboards_serve._free_port("127.0.0.1")
    server = dashboards_serve.serve("nowcast", demo_results, port=port, threaded=True)
    try:
        _wait_for_port(port)
        url = f"ws://127.0.0.1:{port}/nowcast/ws"
        assert asyncio.run(_handshake(url, "http://evil.example")) == 403
        assert asyncio.run(_handshake(url, f"http://127.0.0.1:{port}")) == 101
        listening = {conn.laddr.ip for conn in psutil.Process().net_connections("tcp")
                     if conn.status == "LISTEN" and conn.laddr.port == port}
        assert listening == {"127.0.0.1"}
    finally:
        server.stop()


@pytest.mark.slow
def test_panel_serve_of_the_notebook_on_loopback(demo_results):
    """``panel serve notebooks/90_dashboard_nowcast.ipynb --address 127.0.0.1`` builds the dashboard.

    Run from the folder holding ``runs/main`` (the notebook's default ``out_dir``
    is ``runs/main/90_dashboard_nowcast``, its results the folder above).
    """
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    notebook = Path(__file__).resolve().parents[2] / "notebooks" / "90_dashboard_nowcast.ipynb"
    port = dashboards_serve._free_port("127.0.0.1")
    command = [sys.executable, "-m", "panel", "serve", str(notebook), "--address", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=demo_results.parents[1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/90_dashboard_nowcast", timeout=120) as response:
            page = response.read().decode("utf-8")
        assert "<title>Nowcasting: forecasts against the observed radar</title>" in page
        assert "Traceback" not in page and "https://cdn" not in page  # Panel serves its files itself
    finally:
        process.terminate()
        process.wait(timeout=30)
