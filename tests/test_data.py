"""The data contract: hash-checked files, clear errors, no partial downloads, d2l's standardization."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

import d2lmini
from d2lmini import data

AIRFOIL_SHA256 = "74c75fd71783f1e6b71f8a622b993dc592897a97cd689c5090a07147a1b097b3"


def test_registry_records_the_published_hash() -> None:
    entry = data.registry()["airfoil_self_noise.dat"]
    assert entry.sha256 == AIRFOIL_SHA256
    assert entry.url.startswith("https://")


def test_cached_file_matches_its_hash(airfoil_path: Path) -> None:
    assert hashlib.sha256(airfoil_path.read_bytes()).hexdigest() == AIRFOIL_SHA256


def test_good_copy_loads_from_the_directory_in_the_environment(good_copy: Path) -> None:
    assert data.download("airfoil_self_noise.dat") == good_copy


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "empty", "garbage"])
def test_damaged_file_is_rejected_with_hash_and_fix(good_copy: Path, damage: str) -> None:
    content = good_copy.read_bytes()
    damaged = {
        "flip_byte": content[:100] + bytes([content[100] ^ 1]) + content[101:],
        "truncate": content[: len(content) // 2],
        "empty": b"",
        "garbage": b"not\tairfoil\tdata\n" * 50,
    }[damage]
    good_copy.write_bytes(damaged)
    with pytest.raises(data.DataError) as error:
        d2lmini.load_airfoil()
    message = str(error.value)
    assert str(good_copy) in message
    assert AIRFOIL_SHA256 in message
    assert "Delete it" in message and "download" in message
    assert good_copy.read_bytes() == damaged  # never replaced silently, never used


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failed_download_leaves_no_partial_file_and_says_where_to_get_it(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/airfoil_self_noise.dat"
    entry = data.DataFile("airfoil_self_noise.dat", AIRFOIL_SHA256, url)
    monkeypatch.setattr(data, "registry", lambda: {entry.name: entry})
    with pytest.raises(data.DataError) as error:
        data.download(entry.name)
    message = str(error.value)
    assert url in message and AIRFOIL_SHA256 in message and "by hand" in message
    assert list(data_dir.iterdir()) == []


def test_missing_data_directory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="not an existing directory"):
        data.download("airfoil_self_noise.dat")


def test_unknown_file_name() -> None:
    with pytest.raises(ValueError, match="unknown data file"):
        data.download("mnist.npz")


def test_load_airfoil_standardizes_with_the_full_file(airfoil_path: Path) -> None:
    raw = np.loadtxt(airfoil_path, dtype=np.float64)
    assert raw.shape == (1503, 6)
    features, labels = d2lmini.load_airfoil(n=1503)
    assert features.dtype == labels.dtype == torch.float32
    expected = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(features.numpy(), expected[:, :5], atol=2e-5)
    np.testing.assert_allclose(labels.numpy(), expected[:, 5], atol=2e-5)
    first, first_labels = d2lmini.load_airfoil(n=100)  # the first rows, standardized with the full file's statistics
    assert first.shape == (100, 5) and first_labels.shape == (100,)
    assert torch.equal(first, features[:100])


@pytest.mark.parametrize("n", [0, 1504, -3])
def test_load_airfoil_rejects_rows_outside_the_file(n: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 1503"):
        d2lmini.load_airfoil(n)


@pytest.mark.parametrize("n", [2.5, "100", True])
def test_load_airfoil_rejects_non_integer_rows(n: object) -> None:
    with pytest.raises(TypeError, match="integer"):
        d2lmini.load_airfoil(n)  # type: ignore[arg-type]


def test_get_data_ch11_batches() -> None:
    data_iter, feature_dim = d2lmini.get_data_ch11(batch_size=10, n=1500)
    assert feature_dim == 5
    assert len(data_iter) == 150
    X, y = next(iter(data_iter))
    assert X.shape == (10, 5) and y.shape == (10,)


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, None])
def test_get_data_ch11_rejects_bad_batch_sizes(batch_size: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        d2lmini.get_data_ch11(batch_size=batch_size)  # type: ignore[arg-type]


def test_batch_order_is_seeded() -> None:
    first = [y for _, y in d2lmini.get_data_ch11(batch_size=100, seed=3)[0]]
    again = [y for _, y in d2lmini.get_data_ch11(batch_size=100, seed=3)[0]]
    other = [y for _, y in d2lmini.get_data_ch11(batch_size=100, seed=4)[0]]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
