"""The course's data: two small files that ship with it, hash-checked on every load, and their loaders.

``airfoil_self_noise.dat`` (UCI, CC BY 4.0) and ``timemachine.txt`` (H. G. Wells, public domain) live in ``data/`` of a
checkout and inside the d2lmini wheel; nothing is downloaded. ``data/registry.txt`` lists their SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

#: Environment variable naming a directory that holds the data files instead of the shipped copies.
DATA_DIR_ENV = "D2LMINI_DATA_DIR"
#: Rows and columns of the UCI airfoil self-noise file.
AIRFOIL_SHAPE = (1503, 6)
#: Where the files come from, for the error messages (provenance and licences: data/README.md).
SOURCES = {
    "airfoil_self_noise.dat": "https://archive.ics.uci.edu/dataset/291/airfoil+self+noise",
    "timemachine.txt": "https://www.gutenberg.org/ebooks/35",
}
_CHECKOUT_DATA = Path(__file__).resolve().parent.parent / "data"


class DataError(RuntimeError):
    """A data file is missing or fails its hash check."""


@dataclass(frozen=True)
class DataFile:
    """One entry of the registry: the file's name and its SHA-256."""

    name: str
    sha256: str


def _shipped_dir() -> Path:
    """``d2lmini/_data`` inside an installed wheel, else ``data/`` of the checkout."""
    wheel = resources.files("d2lmini") / "_data"
    return Path(str(wheel)) if wheel.is_dir() else _CHECKOUT_DATA


def registry() -> dict[str, DataFile]:
    """Parse ``registry.txt`` (name and SHA-256 per line) into a dict keyed by file name."""
    files = {}
    for line in (_shipped_dir() / "registry.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sha256 = line.split()
            files[name] = DataFile(name, sha256)
    return files


def data_dir() -> Path:
    """Where the data files are read from: ``$D2LMINI_DATA_DIR`` if set, else the copies shipped with d2lmini."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(f"{DATA_DIR_ENV}={env!r} is not an existing directory; create it or unset the variable")
        return path
    return _shipped_dir()


def sha256sum(path: Path) -> str:
    """The SHA-256 of a file, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_file(name: str) -> Path:
    """The path of the data file ``name`` after checking its SHA-256; a missing or damaged file is never used."""
    entries = registry()
    if name not in entries:
        raise ValueError(f"unknown data file {name!r}; the registry has {sorted(entries)}")
    entry = entries[name]
    path = data_dir() / name
    if not path.is_file():
        raise DataError(f"{path} is missing. It ships with the course (data/ in the repository, d2lmini/_data in "
                        f"the wheel): restore it from the repository, or unset {DATA_DIR_ENV}.")
    actual = sha256sum(path)
    if actual != entry.sha256:
        raise DataError(
            f"{path} is corrupt or incomplete ({path.stat().st_size} bytes, SHA-256 {actual}); expected SHA-256 "
            f"{entry.sha256}. The file was not used. Restore it from the course repository (git checkout data/) "
            f"or reinstall d2lmini; its source is {SOURCES.get(name, 'data/README.md')}."
        )
    return path


def load_airfoil(n: int = 1500) -> tuple[torch.Tensor, torch.Tensor]:
    """The airfoil self-noise data as float32 ``(features, labels)``: shapes ``(n, 5)`` and ``(n,)``.

    Every column is standardized with the mean and standard deviation of the full file (d2l's convention), then the
    first ``n`` rows are kept. The last column, the sound pressure level, is the label.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an integer number of rows, got {n!r}")
    if not 1 <= n <= AIRFOIL_SHAPE[0]:
        raise ValueError(f"n must be between 1 and {AIRFOIL_SHAPE[0]} (the rows in the file), got {n}")
    path = data_file("airfoil_self_noise.dat")
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


def load_time_machine(clean: bool = True) -> str:
    """H. G. Wells' *The Time Machine*, the text d2l's language-model chapters use.

    With ``clean`` (the default) the text is cleaned as d2l cleans it: every run of characters other than the letters
    A–Z and a–z becomes one space, and everything is lower-cased, leaving 27 symbols (26 letters and the space).
    ``clean=False`` returns the file as it is.
    """
    text = data_file("timemachine.txt").read_text(encoding="utf-8")
    return re.sub("[^A-Za-z]+", " ", text).lower() if clean else text


@dataclass(frozen=True)
class CharVocab:
    """A character-level vocabulary: token ``i`` is ``chars[i]``, sorted, so ids do not depend on the text's order."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The sorted set of characters in ``text``."""
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """Token ids of ``text`` as an int64 tensor; a character outside the vocabulary is an error."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(f"characters {unknown!r} are not in the vocabulary {self.chars!r}")
        return torch.tensor([index[c] for c in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        """The text of a sequence of token ids."""
        return "".join(self.chars[int(i)] for i in ids)


def time_machine_split(val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, CharVocab]:
    """The cleaned text as token ids, split into a training part (the first ``1 − val_fraction``) and a validation
    part (the rest, contiguous, so no validation window overlaps a training one), with the vocabulary."""
    if not (isinstance(val_fraction, float) and 0.0 < val_fraction < 1.0):
        raise ValueError(f"val_fraction must be a float in (0, 1), got {val_fraction!r}")
    text = load_time_machine()
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    cut = int(len(ids) * (1 - val_fraction))
    return ids[:cut], ids[cut:], vocab
