"""One training step of a DCGAN and the fast path it runs on: what the trainer loops over and
what throughput times, through one public call, ``TrainStep.run_step``.

Below the trainer and every stage (it imports nets, data and distributed), so throughput times
the trainer's own step without importing the trainer's loop, checkpoints or files.
"""

from __future__ import annotations

import copy
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import numpy as np
import torch

from . import data, distributed, nets, objectives
from .errors import UserError
from .variants import Variant

GRAPH_WARMUP = 3  # eager steps of each kind before its CUDA graph is captured
STAT_FIELDS = ["loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2", "grad_norm_d", "grad_norm_g"]


@dataclass(frozen=True)
class FastPath:
    """How a step runs on CUDA, as one value: passed whole to the trainer and throughput, recorded
    whole in their rows, checked once against the device, the schedule and the process count."""

    amp: str = "off"  # "bf16": bfloat16 autocast
    channels_last: bool = False
    compile: bool = False  # torch.compile the nets
    fused_adam: bool = False  # one fused kernel per optimiser step
    # each kind of step (D then G, D, G) captured once and replayed (one process)
    cuda_graphs: bool = False

    CUDA_ONLY = ("amp", "compile", "cuda_graphs")

    def check(self, device: torch.device, v: Variant | None = None, world: int = 1) -> None:
        """One line for the first option that cannot run: a CUDA-only option on the CPU, or an
        option that cannot capture or compile the variant's step."""
        if self.amp not in ("off", "bf16"):
            raise UserError(f"--amp must be off or bf16; got {self.amp!r}")
        on = [
            f"--{name.replace('_', '-')}" + (" bf16" if name == "amp" else "")
            for name in self.CUDA_ONLY
            if getattr(self, name) not in (False, "off")
        ]
        if on and device.type != "cuda":
            raise UserError(
                f"{' and '.join(on)} {'is a CUDA option' if len(on) == 1 else 'are CUDA options'}; "
                f"drop {' and '.join(on)} on the CPU"
            )
        if v is not None and self.cuda_graphs:
            # each kind of step (D, G, or D then G) is captured as its own graph, so either
            # schedule and any n_critic replay; the objectives beyond the paper's are not captured
            beyond = [
                f"{k}={getattr(v, k)!r}"
                for k, paper in (("loss", "bce"), ("d_reg", "none"), ("d_aux", "none"))
                if getattr(v, k) != paper
            ]
            if beyond:
                raise UserError(
                    f"--cuda-graphs captures the paper's objective only, not {', '.join(beyond)};"
                    " drop --cuda-graphs"
                )
        if v is not None and self.compile and v.double_backward:
            raise UserError(
                f"--compile cannot differentiate a gradient penalty twice (loss={v.loss!r},"
                f" d_reg={v.d_reg!r}); "
                "drop --compile"
            )
        if self.cuda_graphs and world > 1:
            raise UserError(
                "--cuda-graphs runs in one process here (its collectives are not captured); drop"
                " it under torchrun"
            )

    def describe(self) -> str:
        on = [
            label
            for label, flag in (
                ("fused Adam", self.fused_adam),
                ("channels_last", self.channels_last),
                ("bf16 autocast", self.amp == "bf16"),
                ("torch.compile", self.compile),
                ("CUDA graphs", self.cuda_graphs),
            )
            if flag
        ]
        return ", ".join(on) if on else "eager fp32"

    def to_dict(self) -> dict:
        return asdict(self)


EAGER = FastPath()  # no fast-path option: eager fp32


@dataclass
class _Captured:
    """One kind of step captured as a CUDA graph: its input batch and the figures it writes."""

    graph: torch.cuda.CUDAGraph
    real: torch.Tensor
    figures: dict[str, torch.Tensor]


def _grad_norm(net: torch.nn.Module) -> torch.Tensor:
    norms = [p.grad.detach().norm() for p in net.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.zeros(())


class TrainStep:
    """G, D, their optimisers and the z generator, with the step that updates them on a batch
    of the images resident on ``device`` (uint8 NHWC), converted there."""

    def __init__(
        self,
        v: Variant,
        x: np.ndarray,
        device: torch.device,
        fast: FastPath = EAGER,
        seed: int = 0,
        group: distributed.Group | None = None,
    ):
        self.v, self.device, self.fast = v, device, fast
        # the extra terms of each network's objective (objectives.py's registries), chosen once
        self.objective = objectives.LOSSES[v.loss]  # the variant checked the name
        self.d_terms, self.g_terms = objectives.d_terms(v), objectives.g_terms(v)
        self.group = group or distributed.Group()
        fast.check(device, v, self.group.world)
        if x.ndim != 4 or x.shape[1:] != (v.image_size, v.image_size, v.nc):
            raise UserError(
                f"images of shape {tuple(x.shape[1:])} do not fit {v.name}, which takes "
                f"{v.image_size}x{v.image_size}x{v.nc}; choose a matching dataset"
            )
        if len(x) < v.batch_size:
            raise UserError(
                f"{len(x)} images are fewer than one batch of {v.batch_size}; lower batch_size"
                " (--set batch_size=N)"
            )
        # the last partial batch of an epoch is dropped
        self.steps_per_epoch = len(x) // v.batch_size
        # uint8 NHWC, resident on the device
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        self.netG, self.netD = nets.build(v, seed=seed)
        self.netG.to(device)
        self.netD.to(device)
        if fast.channels_last:
            self.netG.to(memory_format=torch.channels_last)
            self.netD.to(memory_format=torch.channels_last)
        adam = dict(
            lr=v.lr,
            betas=(v.beta1, v.beta2),
            weight_decay=v.weight_decay,
            **({"fused": True} if fast.fused_adam else {}),
            # a captured step must not read Adam's step count on the host
            **({"capturable": True} if fast.cuda_graphs else {}),
        )
        self.optD = torch.optim.Adam(self.netD.parameters(), **adam)
        self.optG = torch.optim.Adam(self.netG.parameters(), **adam)
        self.noise = torch.Generator(device=device).manual_seed(seed + 1)
        # compiled wrappers run the steps; checkpoints always save the plain modules
        self.runD = torch.compile(self.netD) if fast.compile else self.netD
        self.runG = torch.compile(self.netG) if fast.compile else self.netG
        # with g_ema: the moving average of G's weights, updated after each G update
        self.netG_ema = (
            copy.deepcopy(self.netG).eval().requires_grad_(False) if v.g_ema > 0 else None
        )
        self.step = 0
        # with cuda_graphs: per kind of step ("d", "g", "dg"), its captured graph, and how many
        # eager warm-up steps of that kind have run
        self._graphs: dict[str, _Captured] = {}
        self._warm: Counter[str] = Counter()
        # each network's latest figures (zeros until its first update): a step that does not
        # update a network reports the figures of its latest update
        self._last = {k: torch.zeros((), device=device) for k in STAT_FIELDS}

    # --- the public step -----------------------------------------------------------------------
    def run_step(
        self, step: int, order: torch.Tensor, eager: bool = False
    ) -> dict[str, torch.Tensor]:
        """The step ``step`` (which network updates, under updates="alternate") on its batch of
        ``order`` (an epoch's permutation, on the device). ``eager``: the plain modules, never
        compiled or replayed (where the layers must be seen, e.g. to count FLOPs). Figures are
        tensors on the device, overwritten by the next replayed step: read them before it."""
        self.step = step
        real = self.batch(step, order)
        if not eager:
            return self.step_on(real)
        runD, runG = self.runD, self.runG
        self.runD, self.runG = self.netD, self.netG
        try:
            return self.train_step(real)
        finally:
            self.runD, self.runG = runD, runG

    def batch(self, step: int, order: torch.Tensor) -> torch.Tensor:
        i = step % self.steps_per_epoch
        # the global batch's indices, then this process's part of them (all of them in one process)
        idx = self.group.part(order[i * self.v.batch_size : (i + 1) * self.v.batch_size]).to(
            self.device
        )
        x = data.to_model_input(self.x[idx])  # on the device
        return x.contiguous(memory_format=torch.channels_last) if self.fast.channels_last else x

    def step_on(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step on the batch ``real``: ``train_step``, or with cuda_graphs the
        captured graph of its kind replayed. The first GRAPH_WARMUP steps of each kind run
        eagerly on a side stream, as capture needs (cuDNN's algorithm choice, autograd's
        streams); they are real steps."""
        if not self.fast.cuda_graphs:
            return self.train_step(real)
        kind = self.kind(self.step)
        captured = self._graphs.get(kind)
        if captured is None and self._warm[kind] < GRAPH_WARMUP:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                out = self.train_step(real)
            torch.cuda.current_stream(self.device).wait_stream(side)
            self._warm[kind] += 1
            return out
        if captured is None:
            # capture records the step without running it; the replay below runs it
            static_real = real.clone()
            graph = torch.cuda.CUDAGraph()
            # z's generator advances at each replay, whichever graph draws from it
            graph.register_generator_state(self.noise)
            with torch.cuda.graph(graph):
                own = self._updates(kind, static_real)
            captured = self._graphs[kind] = _Captured(graph, static_real, own)
        else:
            captured.real.copy_(real)
        captured.graph.replay()
        # the figures live in the graph's memory, overwritten by its next replay: read them
        # before the next step
        self._last.update(captured.figures)
        return dict(self._last)

    def kind(self, step: int) -> str:
        """Which networks the step ``step`` updates: "dg" (D then G on this minibatch),
        "d" or "g". updates="both": D then G, with G only on every n_critic-th step;
        updates="alternate": G at steps divisible by n_critic + 1, D at the others, as the
        authors' loop with k = n_critic."""
        k = self.v.n_critic
        if self.v.updates == "alternate":
            return "g" if step % (k + 1) == 0 else "d"
        return "dg" if (step + 1) % k == 0 else "d"

    def train_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step at ``self.step`` (its ``kind``) on the minibatch ``real``. Figures of a
        network not updated in this step are those of its latest update."""
        self._last.update(self._updates(self.kind(self.step), real))
        return dict(self._last)

    def _updates(self, kind: str, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """The updates of one kind of step, and the figures of the networks it updated."""
        b = real.shape[0]
        if kind == "g":
            return self._update_g(b, z=self._z(b))
        stats, fake = self._update_d(real, self._z(b))
        if kind == "dg":
            stats.update(self._update_g(b, fake=fake))
        return stats

    # --- the updates ---------------------------------------------------------------------------
    # Both updates zero their gradients in place under cuda_graphs, never dropping them: G's
    # backward also adds into D's gradients, so with one graph per kind of step each gradient
    # must live outside every graph's private memory (allocated by the eager warm-up steps),
    # where the next graph to zero or add into it finds it. Zero then add gives the same values
    # bit for bit.
    def _z(self, b: int) -> torch.Tensor:
        # z for the whole global batch from the generator every rank shares, then this rank's part
        return self.group.part(nets.sample_z(self.v, b * self.group.world, self.noise, self.device))

    def _autocast(self):
        # autocast's weight-cast cache must stay off inside a captured graph
        return (
            torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=not self.fast.cuda_graphs)
            if self.fast.amp == "bf16"
            else nullcontext()
        )

    def _update_d(
        self, real: torch.Tensor, z: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(1) Update D on the variant's objective (the paper's: maximise
        log D(x) + log(1 - D(G(z)))) with its penalties and auxiliary task. Returns its figures
        and G(z)."""
        v = self.v
        self.optD.zero_grad(set_to_none=not self.fast.cuda_graphs)
        with self._autocast():
            out_real = self.runD(real).float()
            fake = self.runG(z)
            out_fake = self.runD(fake.detach()).float()
        loss_d = self.objective.d(out_real, out_fake)
        terms = {}  # each extra term of D's objective, unweighted, for the run's events
        for term in self.d_terms:  # the loss's, the regulariser's, the auxiliary task's
            terms[term.name] = term.value(self.netD, real, fake, self.noise)
            loss_d = loss_d + term.weight(v) * terms[term.name]
        loss_d.backward()
        self.group.average_gradients(self.netD)  # the mean over the global batch, as in one process
        grad_d = _grad_norm(self.netD)
        self.optD.step()
        return {
            "loss_d": loss_d.detach(),
            "d_x": torch.sigmoid(out_real).mean().detach(),
            "d_g_z1": torch.sigmoid(out_fake).mean().detach(),
            "grad_norm_d": grad_d,
            **{name: t.detach() for name, t in terms.items()},
        }, fake

    def _update_g(
        self, b: int, fake: torch.Tensor | None = None, z: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """(2) Update G on the variant's objective (the paper's non-saturating loss: maximise
        log D(G(z))), on the ``fake`` = G(z) that D's update just saw, or on G of fresh ``z``
        when G updates alone; then its moving average, where there is one."""
        v = self.v
        self.optG.zero_grad(set_to_none=not self.fast.cuda_graphs)
        with self._autocast():
            fake = self.runG(z) if fake is None else fake
            out_gen = self.runD(fake).float()
        loss_g = self.objective.g(out_gen)
        terms = {}
        for term in self.g_terms:
            terms[term.name] = term.value(self.netD, None, fake, self.noise)
            loss_g = loss_g + term.weight(v) * terms[term.name]
        loss_g.backward()
        self.group.average_gradients(self.netG)
        grad_g = _grad_norm(self.netG)
        self.optG.step()
        if self.netG_ema is not None:
            objectives.ema_update(self.netG_ema, self.netG, v.g_ema)
        return {
            "loss_g": loss_g.detach(),
            "d_g_z2": torch.sigmoid(out_gen).mean().detach(),
            "grad_norm_g": grad_g,
            **{name: t.detach() for name, t in terms.items()},
        }
