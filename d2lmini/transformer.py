"""A small decoder-only transformer and the character-level language-model task of "Optimizers on a real network".

The model follows nanoGPT's shape at toy size: token and position embeddings, pre-LayerNorm blocks (causal
self-attention through ``torch.nn.functional.scaled_dot_product_attention``, then a GELU MLP), a final LayerNorm and
a linear head. No dropout, so a run is fixed by its seed.

The task draws training batches of random windows from the first 90% of *The Time Machine*
(:func:`d2lmini.time_machine_split`) and measures the validation loss on a fixed set of windows from the rest.

The training loop lives here rather than in :mod:`d2lmini.benchmark`, whose loop does not fit a language model: it
walks epochs of a fixed matrix of examples and evaluates the *whole* training set every few steps (here that would
be 150,000 windows, far more work than the training itself). This loop draws fresh random windows, evaluates a
fixed validation sample, runs a warmup + cosine schedule from :mod:`d2lmini.schedules`, switches schedule-free
optimizers between their training and evaluation weights, and can record per-block gradient and update sizes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .benchmark import hyperparams
from .beyond import build, find
from .data import CharVocab, time_machine_split
from .schedules import torch_scheduler

#: The parameter blocks of the per-block measurements, in the order they are drawn.
BLOCKS = ("embedding", "attention", "mlp", "layernorm", "head")


@dataclass(frozen=True)
class GPTConfig:
    """The model's size: vocabulary, context length (characters), width, heads, blocks, MLP expansion."""

    vocab_size: int = 27
    context: int = 32
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for key in ("vocab_size", "context", "d_model", "n_heads", "n_layers", "mlp_ratio"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{key} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention: position t sees positions 0..t only."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # batch, time, channels
        heads = [t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)
                 for t in self.qkv(x).split(C, dim=2)]  # 3 x (B, head, T, C/head)
        y = F.scaled_dot_product_attention(*heads, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    """x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        d, width = cfg.d_model, cfg.mlp_ratio * cfg.d_model
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, width), nn.GELU(),
                                 nn.Linear(width, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharTransformer(nn.Module):
    """A decoder-only transformer: ids (B, T) → next-token logits (B, T, V).

    Initialized as GPT-2 and nanoGPT are: weights N(0, 0.02²), biases 0, and
    the two projections that write into the residual stream scaled down by
    √(2·n_layers); LayerNorm starts at weight 1, bias 0.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)
        residual_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        for name, p in self.named_parameters():
            if block_of(name) == "layernorm":
                continue
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif name.endswith(("attn.proj.weight", "mlp.2.weight")):
                nn.init.normal_(p, std=residual_std)
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        if T > self.cfg.context:
            raise ValueError(f"sequence of length {T} is longer than the "
                             f"context ({self.cfg.context})")
        x = self.tok(idx) + self.pos(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def block_of(name: str) -> str:
    """The block (one of :data:`BLOCKS`) of a parameter of :class:`CharTransformer`, from its name."""
    if name.startswith(("tok.", "pos.")):
        return "embedding"
    if ".ln" in name or name.startswith("ln_f."):
        return "layernorm"
    if ".attn." in name:
        return "attention"
    if ".mlp." in name:
        return "mlp"
    if name.startswith("head."):
        return "head"
    raise ValueError(f"{name!r} is not a parameter name of CharTransformer")


@dataclass(frozen=True)
class CharLMTask:
    """Next-character prediction on *The Time Machine*: the token ids of both splits, the vocabulary, the model's
    size, the batch size and step budget, the warmup length, and the start of each validation window."""

    train_ids: torch.Tensor
    val_ids: torch.Tensor
    vocab: CharVocab
    config: GPTConfig
    batch_size: int
    steps: int
    warmup: int
    val_starts: torch.Tensor
    eval_every: int

    def make_model(self) -> CharTransformer:
        """A fresh model (its initialization comes from torch's global generator: seed it first)."""
        return CharTransformer(self.config)

    def windows(self, ids: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``ids[s : s + T]`` and targets ``ids[s + 1 : s + T + 1]`` for each start ``s``."""
        rows = starts[:, None] + torch.arange(self.config.context)
        return ids[rows], ids[rows + 1]

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch of windows at random starts drawn from ``generator``."""
        high = len(self.train_ids) - self.config.context
        return self.windows(self.train_ids, torch.randint(0, high, (self.batch_size,), generator=generator))

    def val_loss(self, model: nn.Module, device: torch.device | str = "cpu") -> float:
        """Mean next-character cross-entropy (nats) over the fixed validation windows."""
        X, Y = self.windows(self.val_ids, self.val_starts)
        with torch.no_grad():
            return lm_loss(model(X.to(device)), Y.to(device)).item()


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every position of every window."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def char_lm_task(config: GPTConfig | None = None, batch_size: int = 32, steps: int = 300, warmup: int = 30,
                 n_val_windows: int = 128, eval_every: int = 20) -> CharLMTask:
    """The chapter's task: ``n_val_windows`` validation windows evenly spaced over the validation split."""
    train_ids, val_ids, vocab = time_machine_split()
    config = config or GPTConfig(vocab_size=len(vocab))
    if config.vocab_size != len(vocab):
        raise ValueError(f"config.vocab_size is {config.vocab_size}, the vocabulary has {len(vocab)} characters")
    for key, value in (("batch_size", batch_size), ("steps", steps), ("n_val_windows", n_val_windows),
                       ("eval_every", eval_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or not 1 <= warmup < steps:
        raise ValueError(f"warmup must be an integer in [1, steps), got {warmup!r}")
    last = len(val_ids) - config.context - 1
    if n_val_windows > last + 1:
        raise ValueError(f"n_val_windows must be at most {last + 1}, got {n_val_windows}")
    val_starts = torch.linspace(0, last, n_val_windows).round().long()
    return CharLMTask(train_ids, val_ids, vocab, config, batch_size, steps, warmup, val_starts, eval_every)


#: Builds an optimizer for a model: ``make(model, lr)``.
OptimizerFactory = Callable[[nn.Module, float], torch.optim.Optimizer]


@dataclass
class LMRun:
    """One training run: validation loss every ``eval_every`` steps (step 0 included), training seconds at those
    points (evaluations excluded), the mean training loss of the steps since the previous record, the learning rate
    of every step, optional per-block records, the final validation loss (NaN if the run diverged), and the trained
    model. It has the attributes that :func:`d2lmini.benchmark.best_lr` and its companions read, so they select
    among these runs as among the benchmark's."""

    optimizer: str
    lr: float
    seed: int
    task: str = "char transformer"
    steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    blocks: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    diverged: bool = False
    val_loss: float = math.nan
    model: nn.Module | None = field(default=None, repr=False)

    def steps_to(self, target: float) -> int | None:
        """The first recorded step at which the validation loss is at most ``target`` (None if never)."""
        return next((s for s, loss in zip(self.steps, self.val_losses) if loss <= target), None)

    def seconds_to(self, target: float) -> float | None:
        """Training seconds until the first record at or below ``target`` (None if never)."""
        return next((t for t, loss in zip(self.seconds, self.val_losses) if loss <= target), None)

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data (without the model)."""
        return {k: v for k, v in self.__dict__.items() if k != "model"}


def optimizer_factory(name: str, **overrides: Any) -> OptimizerFactory:
    """``make(model, lr)``: the reference implementation of a declared optimizer (:func:`d2lmini.build`, which
    also handles Muon's split of the parameters) with the benchmark's settings (:func:`d2lmini.benchmark.hyperparams`:
    the reference's defaults, the declaration's typical values such as momentum 0.9, and ``lr``), updated with
    ``overrides``. ``make.schedule`` says whether the optimizer takes an external learning-rate schedule (the
    declaration's ``schedule``: schedule-free AdamW does not)."""
    spec = find(name)

    def make(model: nn.Module, lr: float) -> torch.optim.Optimizer:
        return build(name, model, **{**hyperparams(name, lr), **overrides})

    make.schedule = spec.schedule  # type: ignore[attr-defined]
    return make


def block_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's parameters by block (see :func:`block_of`), in :data:`BLOCKS` order."""
    groups: dict[str, list[nn.Parameter]] = {b: [] for b in BLOCKS}
    for name, p in model.named_parameters():
        groups[block_of(name)].append(p)
    return groups


def blockwise_sgd(factors: dict[str, float], momentum: float = 0.9) -> OptimizerFactory:
    """A probe: ``torch.optim.SGD`` with momentum whose learning rate in block ``b`` is ``lr · factors[b]``.

    With factors measured from an Adam run, SGD takes Adam's per-block step sizes and keeps everything else.
    """
    missing = set(BLOCKS) - set(factors)
    if missing or not all(math.isfinite(f) and f > 0 for f in factors.values()):
        raise ValueError(f"factors must give a finite positive number for each of {BLOCKS}, got {factors!r}")

    def make(model: nn.Module, lr: float) -> torch.optim.Optimizer:
        groups = [{"params": ps, "lr": lr * factors[b]} for b, ps in block_groups(model).items() if ps]
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)

    return make


class CoarseAdam(torch.optim.Optimizer):
    """A probe: Adam whose second moment is shared by a whole tensor or by each row of a matrix.

    ``granularity="entry"`` is ``torch.optim.Adam`` itself (one second moment per entry); ``"row"`` keeps one per
    row of every matrix (per token of an embedding, per output of a linear layer) and one per vector; ``"tensor"``
    keeps one per parameter tensor. The first moment is per entry in all three. The mean of ``g²`` over the shared
    entries replaces ``g²``; the rest is Adam's update as ``torch.optim.Adam`` computes it.
    """

    GRANULARITIES = ("entry", "row", "tensor")

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 granularity: str = "row") -> None:
        if granularity not in self.GRANULARITIES:
            raise ValueError(f"granularity must be one of {self.GRANULARITIES}, got {granularity!r}")
        if not (lr >= 0 and eps >= 0 and all(0 <= b < 1 for b in betas)):
            raise ValueError(f"invalid lr, betas or eps: {lr!r}, {betas!r}, {eps!r}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        self.granularity = granularity

    def _square(self, g: torch.Tensor) -> torch.Tensor:
        if self.granularity == "entry":
            return g * g
        if self.granularity == "row" and g.dim() >= 2:
            return (g * g).flatten(1).mean(1).view(-1, *([1] * (g.dim() - 1)))
        return (g * g).mean()

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("CoarseAdam.step takes no closure")
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(self._square(p.grad))
                state["step"] += 1
                t = state["step"]
                state["exp_avg"].lerp_(p.grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).add_(self._square(p.grad), alpha=1 - beta2)
                denom = state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**t) + group["eps"]
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1**t))


def _rms(tensors: Sequence[torch.Tensor]) -> float:
    total = sum(float(t.double().pow(2).sum()) for t in tensors)
    return math.sqrt(total / sum(t.numel() for t in tensors))


def train(task: CharLMTask, make_optimizer: OptimizerFactory, lr: float, seed: int, *, name: str = "",
          schedule: bool | None = None, device: torch.device | str = "cpu", num_threads: int | None = 1,
          record_blocks: bool = False) -> LMRun:
    """Train a fresh model for ``task.steps`` steps with ``make_optimizer(model, lr)``.

    The seed fixes the initialization (``torch.manual_seed``) and the training windows (a generator of its own).
    With ``schedule``, the learning rate follows :func:`d2lmini.schedules.warmup_cosine_lr` (linear warmup from
    ``lr/10`` over ``task.warmup`` steps, then a cosine down to 0 at ``task.steps``), through its torch twin;
    ``None`` (the default) reads ``make_optimizer.schedule`` (see :func:`optimizer_factory`), else True. An
    optimizer with ``train()`` and ``eval()`` methods (schedule-free AdamW) is switched to ``eval()`` for each
    evaluation and at the end. A run
    whose training or validation loss stops being finite stops there and is marked ``diverged``.

    With ``record_blocks``, every ``eval_every`` steps the root mean square (over all the block's entries) of the
    gradient, of the update ``Δθ`` that the step made and of the parameters after it is recorded for each block of
    :data:`BLOCKS`, in ``blocks[block]['grad' | 'update' | 'param']``. ``update / grad`` is the block's effective
    learning rate: exactly ``lr`` for plain SGD, whatever the block.
    The run uses ``num_threads`` CPU threads (``None``: torch's setting), restored afterwards.
    """
    previous = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        if schedule is None:
            schedule = getattr(make_optimizer, "schedule", True)
        return _train(task, make_optimizer, lr, seed, name, bool(schedule), torch.device(device), record_blocks)
    finally:
        torch.set_num_threads(previous)


def _train(task: CharLMTask, make_optimizer: OptimizerFactory, lr: float, seed: int, name: str, schedule: bool,
           device: torch.device, record_blocks: bool) -> LMRun:
    torch.manual_seed(seed)
    model = task.make_model().to(device)
    opt = make_optimizer(model, lr)
    scheduler = (torch_scheduler("warmup_cosine", opt, warmup_steps=task.warmup, total_steps=task.steps)
                 if schedule else None)
    # Optimizers that evaluate at other weights than they train at (schedule-free) have train()/eval() modes.
    modes = callable(getattr(opt, "train", None)) and callable(getattr(opt, "eval", None))
    if modes:
        opt.train()
    windows = torch.Generator().manual_seed(seed)
    named = [(block_of(n), p) for n, p in model.named_parameters()]
    run = LMRun(name, lr, seed, model=model, steps=[0], val_losses=[task.val_loss(model, device)],
                train_losses=[math.nan], seconds=[0.0])
    if record_blocks:
        run.blocks = {b: {"grad": [], "update": [], "param": []} for b in BLOCKS}
    elapsed, tick, window_losses = 0.0, time.perf_counter(), []
    for step in range(1, task.steps + 1):
        X, Y = (t.to(device) for t in task.batch(windows))
        loss = lm_loss(model(X), Y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        window_losses.append(loss.detach())
        run.lrs.append(float(opt.param_groups[0]["lr"]))
        record = record_blocks and step % task.eval_every == 0
        if record:
            before = [p.detach().clone() for _, p in named]
        opt.step()
        if scheduler is not None:
            scheduler.step()
        if step % task.eval_every == 0 or step == task.steps:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            elapsed += time.perf_counter() - tick
            if record:
                for b in BLOCKS:
                    members = [i for i, (block, _) in enumerate(named) if block == b]
                    params = [named[i][1].detach() for i in members]
                    run.blocks[b]["grad"].append(_rms([named[i][1].grad for i in members]))
                    run.blocks[b]["update"].append(_rms([p - before[i] for i, p in zip(members, params)]))
                    run.blocks[b]["param"].append(_rms(params))
            train_loss = torch.stack(window_losses).mean().item()
            if modes:
                opt.eval()
            val = task.val_loss(model, device)
            if modes and step < task.steps:
                opt.train()
            run.steps.append(step)
            run.train_losses.append(train_loss)
            run.val_losses.append(val)
            run.seconds.append(elapsed)
            window_losses = []
            if not (math.isfinite(train_loss) and math.isfinite(val)):
                run.diverged = True
                return run
            tick = time.perf_counter()
    run.val_loss = run.val_losses[-1]
    return run


def generate(model: CharTransformer, vocab: CharVocab, prompt: str, length: int, *, temperature: float = 1.0,
             seed: int = 0) -> str:
    """``prompt`` followed by ``length`` characters sampled from the model, each from the softmax of its logits
    divided by ``temperature``, with a generator seeded by ``seed`` (the same text for the same model and seed)."""
    if not prompt:
        raise ValueError("generate needs a non-empty prompt")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    ids = vocab.encode(prompt).tolist()
    with torch.no_grad():
        for _ in range(length):
            context = torch.tensor([ids[-model.cfg.context:]], device=device)
            probs = torch.softmax(model(context)[0, -1].double().cpu() / temperature, dim=0)
            ids.append(int(torch.multinomial(probs, 1, generator=g)))
    return vocab.decode(ids)
