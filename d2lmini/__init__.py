"""d2lmini: the small helper package of the deep-learning optimizers course.

Modules: ``data`` (the shipped, hash-checked data and its loaders), ``optimizers`` (the from-scratch optimizers and
their declarations), ``beyond`` (the optimizers beyond AdamW; ``DECLARED``, every declared optimizer; ``build``, the
reference implementation ready to train), ``training`` (the 2-D runner and the airfoil loop), ``plotting``
(figures), ``checks`` (proof of equality with the reference), ``schedules`` (learning-rate schedules and their torch
twins), ``benchmark`` (the optimizer comparison), ``transformer`` (the character-level transformer of "Optimizers on
a real network", its task and training loop) and ``stability`` (gradient clipping from scratch).
Names that d2l readers know (``train_2d``, ``show_trace_2d``, ``get_data_ch11``, ``train_ch11``,
``train_concise_ch11``, ``Timer``, ``Animator``, ``try_gpu``, ``set_figsize``) keep their d2l names.
"""

from . import benchmark, beyond, schedules, transformer
from .beyond import DECLARED, build
from .checks import EquivalenceReport, check_equivalence
from .data import (
    CharVocab,
    DataError,
    data_file,
    get_data_ch11,
    load_airfoil,
    load_array,
    load_time_machine,
    time_machine_split,
)
from .optimizers import DEFAULTS, OPTIMIZERS, TWINS
from .plotting import (
    Animator,
    animate_trajectories,
    animation_html,
    plot_losses,
    plot_trajectories,
    set_figsize,
    show_trace_2d,
)
from .training import (
    DivergenceError,
    Timer,
    TrainResult,
    linreg,
    squared_loss,
    train_2d,
    train_ch11,
    train_concise_ch11,
    try_gpu,
)

__version__ = "0.1.0"

__all__ = [
    "DECLARED", "build", "beyond",
    "DEFAULTS", "OPTIMIZERS", "TWINS", "Animator", "DataError", "DivergenceError", "EquivalenceReport", "Timer",
    "TrainResult", "check_equivalence", "data_file", "CharVocab", "load_time_machine",
    "time_machine_split", "get_data_ch11", "linreg", "load_airfoil", "load_array",
    "plot_losses", "plot_trajectories", "set_figsize", "show_trace_2d", "squared_loss", "train_2d", "train_ch11",
    "train_concise_ch11", "try_gpu", "benchmark", "schedules", "animate_trajectories", "animation_html",
    "transformer",
]
