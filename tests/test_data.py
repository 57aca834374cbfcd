"""The data contract: files that ship with the course, hash-checked on every load, clear errors, d2l's conventions."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import d2lmini
from d2lmini import data

ROOT = Path(__file__).resolve().parent.parent
# The hashes of ../shared/data/README.md (the airfoil file's SHA-1 is the one d2l's data hub records).
SHA256 = {
    "airfoil_self_noise.dat": "74c75fd71783f1e6b71f8a622b993dc592897a97cd689c5090a07147a1b097b3",
    "timemachine.txt": "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516",
}
SHA1 = {
    "airfoil_self_noise.dat": "76e5be1548fd8222e5074cf0faae75edff8cf93f",
    "timemachine.txt": "090b5e7e70c295757f55df93cb0a180b9691891a",
}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_shipped_files_are_the_published_ones(name: str) -> None:
    assert data.registry()[name].sha256 == SHA256[name]
    content = data.data_file(name).read_bytes()
    assert hashlib.sha256(content).hexdigest() == SHA256[name]
    assert hashlib.sha1(content).hexdigest() == SHA1[name]  # noqa: S324 (d2l's hub records SHA-1)


def test_every_registered_file_is_in_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    assert {f"data/{name}" for name in data.registry()} <= set(tracked)


def test_a_copy_in_the_directory_of_the_environment_is_used(good_copy: Path) -> None:
    assert data.data_file("airfoil_self_noise.dat") == good_copy


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
    assert SHA256["airfoil_self_noise.dat"] in message
    assert "not used" in message and "Restore it" in message
    assert good_copy.read_bytes() == damaged  # never replaced silently, never used


def test_damaged_time_machine_is_rejected(data_dir: Path) -> None:
    shutil.copy(ROOT / "data" / "timemachine.txt", data_dir / "timemachine.txt")
    path = data_dir / "timemachine.txt"
    path.write_text(path.read_text().replace("Time Traveller", "Time Travellor", 1))
    with pytest.raises(data.DataError, match=SHA256["timemachine.txt"]):
        d2lmini.load_time_machine()


def test_missing_file_is_a_clear_error(data_dir: Path) -> None:
    with pytest.raises(data.DataError, match="is missing"):
        d2lmini.load_time_machine()


def test_missing_data_directory_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="not an existing directory"):
        data.data_file("airfoil_self_noise.dat")


def test_unknown_file_name() -> None:
    with pytest.raises(ValueError, match="unknown data file"):
        data.data_file("mnist.npz")


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


def test_time_machine_cleaning_keeps_lowercase_letters_and_single_spaces() -> None:
    raw = d2lmini.load_time_machine(clean=False)
    text = d2lmini.load_time_machine()
    assert raw.startswith("The Time Machine, by H. G. Wells [1898]")
    assert set(text) == set(" abcdefghijklmnopqrstuvwxyz")
    assert "  " not in text
    assert text.startswith("the time machine by h g wells i the time traveller ")


def test_char_vocab_round_trip_and_unknown_characters() -> None:
    train, val, vocab = d2lmini.time_machine_split()
    assert len(vocab) == 27 and vocab.chars[0] == " "
    text = d2lmini.load_time_machine()
    assert len(train) + len(val) == len(text)
    assert vocab.decode(torch.cat([train, val])) == text
    assert abs(len(val) / len(text) - 0.1) < 1e-4
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("Hello")


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1, "0.1", -0.5])
def test_time_machine_split_rejects_bad_fractions(fraction: object) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        d2lmini.time_machine_split(fraction)  # type: ignore[arg-type]


@pytest.mark.slow
def test_wheel_ships_the_data_and_loads_it_offline(tmp_path: Path) -> None:
    """Build the wheel, install it into an empty target directory, load both files from there with no network."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True)
    wheel = next((tmp_path / "dist").glob("d2lmini-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"d2lmini/_data/{n}" for n in [*SHA256, "registry.txt"]} <= set(names)
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = ("import d2lmini, socket; socket.socket = None; "  # any network use would fail
            "assert 'site' in d2lmini.__file__; d2lmini.load_airfoil(); print(len(d2lmini.load_time_machine()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"),
                         "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(len(d2lmini.load_time_machine()))
