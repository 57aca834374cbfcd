"""Downloads against a local HTTP server on 127.0.0.1: good, corrupted, truncated and failing responses."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from d2lmini import data


class _Handler(http.server.BaseHTTPRequestHandler):
    payloads: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.payloads.get(self.path)
        if self.path == "/truncated":  # announces the full length, sends half, then hangs up
            full = self.payloads["/good"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            self.wfile.write(full[: len(full) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        if body is None:
            self.send_error(503 if self.path == "/failing" else 404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(airfoil_path: Path) -> Iterator[str]:
    good = airfoil_path.read_bytes()
    _Handler.payloads = {"/good": good, "/corrupted": good[:500] + b"X" + good[501:]}
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _serve_from(monkeypatch: pytest.MonkeyPatch, url: str) -> data.DataFile:
    good = data.registry()["airfoil_self_noise.dat"]
    entry = data.DataFile(good.name, good.sha256, url)
    monkeypatch.setattr(data, "registry", lambda: {entry.name: entry})
    return entry


def test_good_download_is_verified_and_kept(server: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = _serve_from(monkeypatch, f"{server}/good")
    path = data.download(entry.name)
    assert path == data_dir / entry.name and data.sha256sum(path) == entry.sha256
    assert sorted(p.name for p in data_dir.iterdir()) == [entry.name]


@pytest.mark.parametrize("response", ["corrupted", "truncated", "failing", "missing"])
def test_bad_download_raises_and_leaves_nothing(server: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                response: str) -> None:
    entry = _serve_from(monkeypatch, f"{server}/{response}")
    with pytest.raises(data.DataError) as error:
        data.download(entry.name)
    message = str(error.value)
    assert entry.url in message and entry.sha256 in message and "by hand" in message
    assert list(data_dir.iterdir()) == []


def test_unwritable_data_directory_is_a_clear_error(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, for whom chmod does not bite: ask the same question the code asks.
    monkeypatch.setattr(data.os, "access", lambda path, mode: False)
    with pytest.raises(data.DataError, match="is not writable"):
        data.download("airfoil_self_noise.dat")
