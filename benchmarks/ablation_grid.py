"""The ablation grid: which short SimCSE runs reproduce which claim of the paper, and with which trainer flags.

Each :class:`Point` is one setting (a dropout rate, the shared mask, a hard-negative policy, a temperature),
with the paper's STS-B dev figure where the paper reports that setting (Gao et al., 2021, BERT-base;
unsupervised dropout: Table 3; supervised hard negatives: Table 4's "+ hard neg" row against the
entailment-pairs row; the paper's temperature and hard-negative-weight tables use other setups, so those
points carry no figure). A :class:`RunSpec` is one point at one seed: the exact ``python -m trainer``
arguments, nothing else, so runs share only the base weights.

    from benchmarks.ablation_grid import Sizes, build_grid
    specs = build_grid(["dropout"], Sizes(), seeds=[42, 43, 44], base="BASE", data_dir="DATA", runs_dir="out/runs")
    [s.id for s in specs][:2]      # ['unsup-dropout-0-seed42', 'unsup-dropout-0.05-seed42']
"""

from __future__ import annotations

from dataclasses import dataclass, field

PARTS = ("dropout", "hard-negatives", "temperature")
#: The inference vector of every run and of the base point: the raw [CLS] (the MLP head is train-only), so
#: the alignment/uniformity trajectories start at the base model's own point.
POOLER = "cls_before_pooler"
MAX_LEN = 32  # tokens a sentence, training and scoring (the paper's)


@dataclass(frozen=True)
class Point:
    """One setting of the grid."""

    id: str  # unique, used in file names: "unsup-dropout-0.1"
    part: str  # one of PARTS
    label: str  # how the tables name it: "dropout 0.1"
    objective: str  # "unsup" or "sup"
    flags: tuple[str, ...]  # the trainer flags that make this setting, e.g. ("--dropout", "0.1")
    paper: float | None  # the paper's STS-B dev Spearman x100 for this setting (BERT-base), None: not reported
    reference: str  # id of the point it is compared with (itself for a reference point)
    key: bool = False  # repeated over every seed (the claims' pairs); other points run at the first seed only
    trajectory: bool = False  # dev scores every Sizes.eval_every steps (the alignment/uniformity figure)


UNSUP_REF = "unsup-dropout-0.1"
SUP_REF = "sup-hard-negatives"

POINTS: tuple[Point, ...] = (
    Point("unsup-dropout-0", "dropout", "no dropout (p = 0)", "unsup", ("--dropout", "0"), 71.1, UNSUP_REF,
          key=True, trajectory=True),
    Point("unsup-dropout-0.05", "dropout", "dropout 0.05", "unsup", ("--dropout", "0.05"), 81.1, UNSUP_REF),
    Point(UNSUP_REF, "dropout", "dropout 0.1 (SimCSE)", "unsup", ("--dropout", "0.1"), 82.5, UNSUP_REF,
          key=True, trajectory=True),
    Point("unsup-dropout-0.15", "dropout", "dropout 0.15", "unsup", ("--dropout", "0.15"), 81.4, UNSUP_REF),
    Point("unsup-dropout-0.2", "dropout", "dropout 0.2", "unsup", ("--dropout", "0.2"), 80.5, UNSUP_REF),
    Point("unsup-same-mask", "dropout", "same mask for both views (fixed 0.1)", "unsup",
          ("--dropout", "0.1", "--same-dropout-mask"), 43.6, UNSUP_REF, key=True, trajectory=True),
    Point(SUP_REF, "hard-negatives", "hard negatives, weight 1 (SimCSE)", "sup", ("--hard-negative-weight", "1"),
          86.2, SUP_REF, key=True, trajectory=True),
    Point("sup-no-hard-negatives", "hard-negatives", "no hard negatives (pairs only)", "sup",
          ("--no-hard-negatives",), 84.9, SUP_REF, key=True, trajectory=True),
    Point("sup-hard-negative-weight-0.5", "hard-negatives", "hard negatives, weight 0.5", "sup",
          ("--hard-negative-weight", "0.5"), None, SUP_REF),
    Point("sup-hard-negative-weight-2", "hard-negatives", "hard negatives, weight 2", "sup",
          ("--hard-negative-weight", "2"), None, SUP_REF),
    Point("unsup-temp-0.01", "temperature", "temperature 0.01", "unsup", ("--dropout", "0.1", "--temp", "0.01"),
          None, UNSUP_REF),
    Point("unsup-temp-0.1", "temperature", "temperature 0.1", "unsup", ("--dropout", "0.1", "--temp", "0.1"),
          None, UNSUP_REF),
    Point("unsup-temp-1", "temperature", "temperature 1", "unsup", ("--dropout", "0.1", "--temp", "1"),
          None, UNSUP_REF),
)
BY_ID = {p.id: p for p in POINTS}
#: The temperature part's 0.05 row is the SimCSE run itself (the recipe's temperature).
SHARED = {"temperature": (UNSUP_REF,)}
#: --quick: one unsupervised and one supervised run, both with trajectories.
QUICK = (UNSUP_REF, SUP_REF)


@dataclass(frozen=True)
class Sizes:
    """How long each run is (the defaults: the full grid in about 50 minutes on 2 CPU cores, half of it scoring)."""

    unsup_steps: int = 16  # optimizer steps of an unsupervised run (64 x 16 = 1,024 wiki sentences)
    sup_steps: int = 10  # optimizer steps of a supervised run (64 x 10 = 640 NLI triplets)
    batch_size: int = 64  # examples a step (the unsupervised recipe's; the paper's supervised batch is 512)
    eval_every: int = 4  # dev scores (alignment, uniformity, STS-B dev) every N steps of the trajectory runs

    def check(self) -> None:
        """Raise ValueError naming the bad size and the fix."""
        for name in ("unsup_steps", "sup_steps", "batch_size", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be a whole number >= 1, not {value!r}")
        if self.batch_size < 2:
            raise ValueError(f"--batch-size must be at least 2 (in-batch negatives), not {self.batch_size}")


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid: a point at a seed, and the trainer arguments that make it."""

    id: str  # "<point id>-seed<seed>", the name of its result file
    point: Point
    seed: int
    full_sts: bool  # score the seven STS test sets at the end (first seed); else STS-B dev only
    trainer_args: list[str] = field(default_factory=list)  # argv of `python -m trainer`


def points_of(parts: list[str], quick: bool = False) -> list[Point]:
    """The points of ``parts`` in grid order (shared points once); ValueError for an unknown part."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown part(s) {', '.join(map(repr, unknown))}: choose from {', '.join(PARTS)}")
    if quick:
        return [BY_ID[i] for i in QUICK]
    wanted = {p.id for p in POINTS if p.part in parts} | {i for part in parts for i in SHARED.get(part, ())}
    return [p for p in POINTS if p.id in wanted]


def trainer_args(point: Point, seed: int, sizes: Sizes, *, base: str, data_dir: str, out: str,
                 threads: int | None = None) -> list[str]:
    """The ``python -m trainer`` argv of ``point`` at ``seed``."""
    unsup = point.objective == "unsup"
    steps = sizes.unsup_steps if unsup else sizes.sup_steps
    args = ["--unsup", "wiki"] if unsup else ["--sup", "nli", "--mlp-only-train"]  # raw [CLS] at inference
    args += ["--base", base, "--data-dir", data_dir, "--out", out, "--steps", str(steps),
             "--batch-size", str(sizes.batch_size), "--max-len", str(MAX_LEN), "--seed", str(seed),
             "--eval-steps", str(min(sizes.eval_every, steps) if point.trajectory else 0), "--save-steps", "0",
             "--no-progress", *point.flags]
    return args + (["--threads", str(threads)] if threads else [])


def build_grid(parts: list[str], sizes: Sizes, *, seeds: list[int], base: str, data_dir: str, runs_dir: str,
               quick: bool = False, threads: int | None = None) -> list[RunSpec]:
    """Every run: each point at the first seed (seven STS tasks at the end), key points at the other seeds too.

    The claims' points come first (every seed), then the other points, so a grid stopped early has its claims.
    """
    if not seeds:
        raise ValueError("--seeds needs at least one seed, e.g. --seeds 42,43,44")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds has a repeated seed: {seeds}")
    sizes.check()
    specs = []
    for i, seed in enumerate(seeds):
        for point in points_of(parts, quick):
            if i and not point.key:
                continue
            run_id = f"{point.id}-seed{seed}"
            args = trainer_args(point, seed, sizes, base=base, data_dir=data_dir, out=f"{runs_dir}/{run_id}",
                                threads=threads)
            specs.append(RunSpec(run_id, point, seed, full_sts=i == 0 and not quick, trainer_args=args))
    return sorted(specs, key=lambda s: not s.point.key)  # the claims' runs first: a cut-short grid still has them
