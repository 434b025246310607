"""The engine state as bytes, for the store: compact, versioned, no pickled code.

The format is NumPy's ``.npz`` (a zip of ``.npy`` arrays, read with
``allow_pickle=False``): every array of the state (the ring, seasonal indices, flow
profiles, drift's recent values) is stored as is, and the scalars as one JSON
document. Fitted models are rebuilt from an explicit table of their classes, field by
field, so a saved state can only ever produce those classes. :data:`FORMAT` changes
whenever the layout does; a state of another format, or made with other engine
settings, raises :class:`StateFormatError` and the queue starts afresh (it is
re-fitted and re-selected) instead of crashing.
"""

from __future__ import annotations

import dataclasses
import io
import json
import typing
from typing import Any

import numpy as np

from forecasts.calibrate import Memory
from forecasts.engine import BASE, EngineState
from forecasts.fitwarnings import WarningTally
from forecasts.models.drift import FittedDrift
from forecasts.models.ets import FittedEts
from forecasts.models.flow import FittedFlow
from forecasts.models.linear import FittedLinear
from forecasts.models.naive import FittedNaive
from forecasts.ring import Ring
from forecasts.types import FloatArray

FORMAT = 2
"""Layout version of :func:`encode`; bump it when the state's layout changes.

2: the calibration memories (:class:`forecasts.calibrate.Memory`) are saved."""

READABLE = (1, 2)
"""Formats :func:`decode` reads: a format-1 state (no memories) loads with none, so
its memories start empty when first asked."""

FITTED: dict[str, type] = {
    "naive": FittedNaive,
    "drift": FittedDrift,
    "flow": FittedFlow,
    "ets_daily": FittedEts,
    "linear": FittedLinear,
}
"""The class of each base model's fitted state."""


class StateFormatError(ValueError):
    """A saved state this version cannot read: the queue starts afresh."""


def encode(state: EngineState) -> bytes:
    """The state as ``.npz`` bytes (arrays as stored, scalars as JSON)."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "base": list(BASE),
        "last_hour": state.last_hour,
        "attempted": state.attempted,
        "selected": state.selected,
        "scores": state.scores,
        "warnings": state.warnings.counts,
        "ring_last": state.ring.last,
        "fitted": {},
        "memories": {
            key: {
                "group": m.group,
                "model": m.model,
                "steps": m.steps,
                "limit": m.limit,
                "half_life": m.half_life,
                "pending": [list(p) for p in m.pending],
            }
            for key, m in state.memories.items()
        },
    }
    arrays: dict[str, np.ndarray] = {
        "ring.forecasts": state.ring.forecasts,
        "ring.actual": state.ring.actual,
    }
    for i, memory in enumerate(state.memories.values()):
        arrays[f"memory.{i}"] = memory.counts
    for name, fitted in state.fitted.items():
        if fitted is not None:
            meta["fitted"][name] = _flatten(fitted, f"fitted.{name}", arrays)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def decode(blob: bytes) -> EngineState:
    """The state saved by :func:`encode`; StateFormatError when it cannot be read."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(arrays.pop("meta").tobytes())
    except (OSError, ValueError, KeyError) as exc:
        raise StateFormatError(f"unreadable forecast state: {exc}") from None
    if meta.get("format") not in READABLE or meta.get("base") != list(BASE):
        raise StateFormatError(f"forecast state format {meta.get('format')}, need {FORMAT}")
    ring = Ring(tuple(BASE), arrays["ring.forecasts"], arrays["ring.actual"], meta["ring_last"])
    fitted = {
        name: _rebuild(FITTED[name], meta["fitted"][name], f"fitted.{name}", arrays)
        if name in meta["fitted"]
        else None
        for name in BASE
    }
    return EngineState(
        last_hour=meta["last_hour"],
        fitted=fitted,
        attempted={k: int(v) for k, v in meta["attempted"].items()},
        ring=ring,
        selected=meta["selected"],
        scores={k: float(v) for k, v in meta["scores"].items()},
        warnings=WarningTally(dict(meta["warnings"])),
        current=latest_forecasts(ring, meta["last_hour"]),
        memories=_memories(meta.get("memories", {}), arrays),
    )


def _memories(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Memory]:
    """The calibration memories :func:`encode` wrote (none in a format-1 state)."""
    return {
        key: Memory(
            group=m["group"],
            model=m["model"],
            steps=int(m["steps"]),
            limit=float(m["limit"]),
            half_life=float(m["half_life"]),
            counts=np.array(arrays[f"memory.{i}"], dtype=np.float64),
            pending=[(int(h), float(c), int(s), float(lim)) for h, c, s, lim in m["pending"]],
        )
        for i, (key, m) in enumerate(meta.items())
    }


def latest_forecasts(ring: Ring, last_hour: int) -> dict[str, FloatArray]:
    """Each base model's forecast made at ``last_hour``, as the ring kept it.

    ``current`` is not saved: a state read back and asked for a forecast before its
    next hour (a restart within the hour the state was saved) answers from the ring's
    copy (float32) instead of having none.
    """
    if ring.last != last_hour:
        return {}
    slot = last_hour % ring.size
    return {name: ring.forecasts[i, slot].astype(np.float64) for i, name in enumerate(ring.names)}


def _flatten(obj: Any, prefix: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Scalars of a fitted dataclass (nested ones recursively); arrays go to ``arrays``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}.{f.name}"
        if isinstance(value, WarningTally):
            continue  # counted into the engine's own tally already
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, np.datetime64):
            out[f.name] = int(value.astype("datetime64[h]").astype(np.int64))
        elif dataclasses.is_dataclass(value):
            out[f.name] = _flatten(value, key, arrays)
        elif isinstance(value, bool | int | float | str):
            out[f.name] = value
        else:
            raise TypeError(f"cannot encode {key} of type {type(value).__name__}")
    return out


def _rebuild(cls: type, meta: dict[str, Any], prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """An instance of ``cls`` from what :func:`_flatten` wrote."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}"
        hint = hints[f.name]
        if hint is WarningTally:
            kwargs[f.name] = WarningTally()
        elif key in arrays:
            kwargs[f.name] = arrays[key]
        elif hint is np.datetime64:
            kwargs[f.name] = np.datetime64(int(meta[f.name]), "h")
        elif dataclasses.is_dataclass(hint):
            kwargs[f.name] = _rebuild(typing.cast(type, hint), meta[f.name], key, arrays)
        elif f.name in meta:
            kwargs[f.name] = meta[f.name]
    return cls(**kwargs)
