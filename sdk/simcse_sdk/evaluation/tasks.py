"""Task names: the STS, dev and transfer task registries, and resolving user-given names.

Canonical names are the column headers of the SimCSE paper's tables. Look-up ignores case,
``-`` and ``_``, and accepts SentEval's own names (``STSBenchmark``, ``SICKRelatedness``).

Example:
    >>> from simcse_sdk.evaluation.tasks import resolve_tasks, STS_TASKS
    >>> resolve_tasks(["sts-b", "sickrelatedness"], STS_TASKS, "STS")
    ['STS-B', 'SICK-R']
    >>> resolve_tasks(None, STS_TASKS, "STS")[:2]
    ['STS12', 'STS13']
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import TaskError

#: STS tasks in the paper's column order (test sets).
STS_TASKS: tuple[str, ...] = ("STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R")

#: Transfer (classification) tasks in the paper's column order.
TRANSFER_TASKS: tuple[str, ...] = ("MR", "CR", "SUBJ", "MPQA", "SST2", "TREC", "MRPC")

#: The CLI's task groups.
TASK_GROUPS: tuple[str, ...] = ("sts", "dev", "transfer", "align", "all")

_ALIASES: dict[str, str] = {
    "stsbenchmark": "STS-B",
    "sick": "SICK-R",
    "sickrelatedness": "SICK-R",
    "sst": "SST2",
}


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def resolve_tasks(tasks: Iterable[str] | str | None, valid: Iterable[str], kind: str) -> list[str]:
    """Map user-given task names onto canonical ones, in the registry's order.

    Args:
        tasks: names (or one comma-separated string); ``None`` means every task in ``valid``.
        valid: the canonical names allowed here.
        kind: a word for error messages (``"STS"``, ``"transfer"``).

    Raises:
        TaskError: a name is unknown; the message lists the valid names.
    """
    valid = tuple(valid)
    if tasks is None:
        return list(valid)
    if isinstance(tasks, str):
        tasks = [t for t in tasks.split(",") if t.strip()]
    by_key = {_key(v): v for v in valid}
    by_key.update({k: v for k, v in _ALIASES.items() if v in valid})
    chosen: set[str] = set()
    for name in tasks:
        canonical = by_key.get(_key(name.strip()))
        if canonical is None:
            raise TaskError(f"Unknown {kind} task {name!r}; valid names: {', '.join(valid)}.")
        chosen.add(canonical)
    if not chosen:
        raise TaskError(f"No {kind} task given; valid names: {', '.join(valid)}.")
    return [v for v in valid if v in chosen]


def resolve_groups(spec: str) -> list[str]:
    """Parse the CLI's ``--tasks`` value (``sts``, ``dev,align``, ``all``...) into task groups.

    ``all`` means ``sts``, ``dev``, ``transfer`` and ``align``.

    Raises:
        TaskError: a group name is unknown.
    """
    groups: list[str] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        if part not in TASK_GROUPS:
            raise TaskError(f"Unknown task group {part!r}; valid groups: {', '.join(TASK_GROUPS)}.")
        if part == "all":
            groups.extend(g for g in TASK_GROUPS if g != "all")
        else:
            groups.append(part)
    return [g for g in TASK_GROUPS if g in groups]
