"""Which of a sidecar's monitors (one per model and version) each outcome goes to.

An outcome goes to the monitor that holds (or remembers) its prediction, or the one its
``model``/``version`` names; otherwise to the only model's monitor, or the default one. An
outcome naming a model the prediction log never named creates no monitor (anyone who can
post could otherwise fill ``max_models``): it goes to the monitor that holds its request id,
or is counted rejected (``unknown_model``). A journaled outcome names the monitor it went to,
so that a replay sends it there again.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from aimon.monitors import Monitor
from aimon.quality.outcomes import Outcome

__all__ = ["MonitorKey", "by_monitor", "route_outcomes", "stamped"]

#: A sidecar monitor's key: (model, version).
MonitorKey = tuple[str, str | None]


def route_outcomes(
    outcomes: list[Outcome],
    monitors: dict[MonitorKey, Monitor],
    default_model: str,
    default_monitor: Callable[[], Monitor],
    rejected: Counter[str],
) -> list[tuple[Monitor, list[Outcome]]]:
    """Record each outcome in the monitor of its prediction (see the module's notes); returns
    where each went.

    Args:
        outcomes: the outcomes, in order.
        monitors: the sidecar's monitors by key (none is made here but the default one).
        default_model: the default model's name (its monitor's key has no version).
        default_monitor: the default model's monitor, made if need be.
        rejected: outcomes no monitor takes are counted here (``unknown_model``).
    """
    if not outcomes:
        return []
    named: dict[MonitorKey, list[Outcome]] = {}
    unnamed = []
    for outcome in outcomes:
        if outcome.model is not None:
            named.setdefault((outcome.model, outcome.version), []).append(outcome)
        else:
            unnamed.append(outcome)
    batches = []
    for (model, version), items in named.items():
        found = _named_monitor(monitors, model, version)
        if found is not None:
            batches.append((found, items))
        else:  # by request id, like an unnamed outcome, but never to the fallback
            batches += _by_request_id(items, list(monitors.values()), None, rejected)
    if unnamed:
        searched = list(monitors.values())
        searched = searched if len(searched) > 1 else []
        fallback = _fallback_monitor(monitors, default_model, default_monitor)
        batches += _by_request_id(unnamed, searched, fallback, rejected)
    for monitor, items in batches:
        monitor.record_outcomes([(o.request_id, o.actual, o.ts) for o in items])
    return batches


def stamped(
    routed: list[tuple[Monitor, list[Outcome]]], monitors: dict[MonitorKey, Monitor]
) -> list[Outcome]:
    """The routed outcomes, each naming the monitor it went to (for the journal)."""
    keys = {id(m): key for key, m in monitors.items()}
    return [
        dataclasses.replace(o, model=keys[id(m)][0], version=keys[id(m)][1])
        for m, items in routed
        for o in items
    ]


def by_monitor(outcomes: list[Outcome]) -> dict[MonitorKey, list[Any]]:
    """Journaled outcomes (each naming the monitor it went to) grouped by that monitor."""
    groups: dict[MonitorKey, list[Any]] = {}
    for o in outcomes:
        groups.setdefault((o.model or "", o.version), []).append((o.request_id, o.actual, o.ts))
    return groups


def _named_monitor(
    monitors: dict[MonitorKey, Monitor], model: str, version: str | None
) -> Monitor | None:
    """The monitor an outcome naming ``model`` (and ``version``) belongs to, if the
    prediction log named that model: its exact key, or (no version given) the model's
    only monitor. Never a new one."""
    found = monitors.get((model, version))
    if found is None and version is None:
        same = [m for (name, _), m in monitors.items() if name == model]
        found = same[0] if len(same) == 1 else None
    return found


def _by_request_id(
    outcomes: list[Outcome],
    monitors: list[Monitor],
    fallback: Monitor | None,
    rejected: Counter[str],
) -> list[tuple[Monitor, list[Outcome]]]:
    """Each outcome to the monitor among ``monitors`` that knows its request id, else to
    ``fallback``; without one, counted rejected (``unknown_model``)."""
    ids = [o.request_id for o in outcomes]
    known = [(m, m.known_request_ids(ids)) for m in monitors]
    routed: dict[int, tuple[Monitor, list[Outcome]]] = {}
    for outcome in outcomes:
        target = next((m for m, ids_ in known if outcome.request_id in ids_), fallback)
        if target is None:
            rejected["unknown_model"] += 1
        else:
            routed.setdefault(id(target), (target, []))[1].append(outcome)
    return list(routed.values())


def _fallback_monitor(
    monitors: dict[MonitorKey, Monitor],
    default_model: str,
    default_monitor: Callable[[], Monitor],
) -> Monitor:
    """Where an outcome of an unseen request waits: the only model's monitor, else the
    default one."""
    others = [m for key, m in monitors.items() if key != (default_model, None)]
    return others[0] if len(others) == 1 else default_monitor()
