"""The course's data: a registry of files with their SHA-256, a hash-checked cache, and the airfoil loaders."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

#: Environment variable naming the directory that holds (or receives) the data files.
DATA_DIR_ENV = "D2LMINI_DATA_DIR"
#: Rows and columns of the UCI airfoil self-noise file.
AIRFOIL_SHAPE = (1503, 6)
AIRFOIL_PAGE = "https://archive.ics.uci.edu/dataset/291/airfoil+self+noise"


class DataError(RuntimeError):
    """A data file is missing, cannot be fetched, or fails its hash check."""


@dataclass(frozen=True)
class DataFile:
    """One entry of the registry: what the file is called, its SHA-256 and where it is downloaded from."""

    name: str
    sha256: str
    url: str


def _registry_text() -> str:
    shipped = resources.files("d2lmini") / "registry.txt"  # inside an installed wheel
    if shipped.is_file():
        return shipped.read_text()
    checkout = Path(__file__).resolve().parent.parent / "data" / "registry.txt"  # in a checkout
    return checkout.read_text()


def registry() -> dict[str, DataFile]:
    """Parse ``data/registry.txt`` (name, SHA-256, URL per line) into a dict keyed by file name."""
    files = {}
    for line in _registry_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sha256, url = line.split()
            files[name] = DataFile(name, sha256, url)
    return files


def data_dir() -> Path:
    """The data cache: ``$D2LMINI_DATA_DIR`` if set, else ``data/`` in a checkout, else a per-user cache."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(f"{DATA_DIR_ENV}={env!r} is not an existing directory; create it or unset the variable")
        return path
    checkout = Path(__file__).resolve().parent.parent / "data"
    if (checkout / "registry.txt").is_file():
        return checkout
    import pooch  # only needed outside a checkout

    path = Path(pooch.os_cache("d2lmini"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256sum(path: Path) -> str:
    """The SHA-256 of a file, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, entry: DataFile) -> Path:
    """Return ``path`` if its SHA-256 matches the registry; otherwise raise a :class:`DataError` saying how to fix it."""
    actual = sha256sum(path)
    if actual != entry.sha256:
        size = path.stat().st_size
        raise DataError(
            f"{path} is corrupt or incomplete ({size} bytes, SHA-256 {actual}); expected SHA-256 {entry.sha256}. "
            f"The file was not used. Delete it and run again to download it afresh from {entry.url}, "
            f"or place a good copy there by hand."
        )
    return path


def download(name: str, directory: Path | None = None) -> Path:
    """Return the path of the verified data file ``name``, downloading it first if it is not in the cache.

    The hash is checked on every call. A download goes to a temporary file that is moved into place only after its
    hash is checked, so a failed or interrupted download leaves no partial file behind.
    """
    entries = registry()
    if name not in entries:
        raise ValueError(f"unknown data file {name!r}; the registry has {sorted(entries)}")
    entry = entries[name]
    directory = data_dir() if directory is None else Path(directory)
    path = directory / name
    if path.is_file():
        return verify(path, entry)
    if not os.access(directory, os.W_OK):
        raise DataError(f"{path} is missing and {directory} is not writable; choose another directory with "
                        f"{DATA_DIR_ENV}, or place the file there by hand (from {entry.url})")
    _fetch(entry, path)
    return path


def _fetch(entry: DataFile, path: Path) -> None:
    import pooch

    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        pooch.HTTPDownloader(progressbar=False, timeout=30)(entry.url, str(tmp), None)
        verify(tmp, entry)
        os.replace(tmp, path)
    except Exception as error:
        raise DataError(
            f"could not download {entry.name} from {entry.url} ({type(error).__name__}: {error}). "
            f"Download it by hand (also from {AIRFOIL_PAGE} for the airfoil data), check that its SHA-256 is "
            f"{entry.sha256}, and place it at {path} (or in the directory named by {DATA_DIR_ENV})."
        ) from error
    finally:
        tmp.unlink(missing_ok=True)


def load_airfoil(n: int = 1500) -> tuple[torch.Tensor, torch.Tensor]:
    """The airfoil self-noise data as float32 ``(features, labels)``: shapes ``(n, 5)`` and ``(n,)``.

    Every column is standardized with the mean and standard deviation of the full file (d2l's convention), then the
    first ``n`` rows are kept. The last column, the sound pressure level, is the label.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an integer number of rows, got {n!r}")
    if not 1 <= n <= AIRFOIL_SHAPE[0]:
        raise ValueError(f"n must be between 1 and {AIRFOIL_SHAPE[0]} (the rows in the file), got {n}")
    path = download("airfoil_self_noise.dat")
    data = np.genfromtxt(path, dtype=np.float32, delimiter="\t")
    if data.shape != AIRFOIL_SHAPE or not np.isfinite(data).all():
        raise DataError(f"{path} parsed to shape {data.shape} with non-finite values; expected {AIRFOIL_SHAPE}")
    data = torch.from_numpy((data - data.mean(axis=0)) / data.std(axis=0))
    return data[:n, :-1], data[:n, -1]


def load_array(data_arrays: tuple[torch.Tensor, ...], batch_size: int, is_train: bool = True,
               seed: int = 0) -> DataLoader:
    """A DataLoader over tensors; when ``is_train`` it shuffles with its own generator seeded by ``seed``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not data_arrays or not all(isinstance(a, torch.Tensor) for a in data_arrays):
        raise TypeError("data_arrays must be a non-empty tuple of tensors, such as (features, labels)")
    lengths = [len(a) for a in data_arrays]
    if len(set(lengths)) != 1:
        raise ValueError(f"data_arrays must all have the same number of rows, got {lengths}")
    generator = torch.Generator().manual_seed(seed) if is_train else None
    return DataLoader(TensorDataset(*data_arrays), batch_size, shuffle=is_train, generator=generator)


def get_data_ch11(batch_size: int = 10, n: int = 1500, seed: int = 0) -> tuple[DataLoader, int]:
    """d2l's name: a shuffled airfoil DataLoader of ``batch_size`` and the feature dimension (5)."""
    features, labels = load_airfoil(n)
    return load_array((features, labels), batch_size, is_train=True, seed=seed), features.shape[1]
