"""promtool's series notation: ``name{label="value",...}`` and ``1+2x3 _x2 stale 5``."""

from __future__ import annotations

import re
from typing import Final, Literal

Stale = Literal["stale"]
STALE: Final[Stale] = "stale"
"""A staleness marker: the series ended (for us, no sample at that step)."""

Value = float | None | Stale
"""One step of a series: a sample, ``None`` (``_``: no sample) or :data:`STALE`."""

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:Inf|inf|NaN|nan)"
_TERM = re.compile(rf"^(?P<a>{_NUM})(?:(?P<delta>[-+](?:\d+(?:\.\d*)?|\.\d+))?x(?P<n>\d+))?$")
_GAP = re.compile(r"^_(?:x(?P<n>\d+))?$")
_NAME = re.compile(r"^\s*(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(?P<body>.*)\})?\s*$", re.S)
_LABEL = re.compile(r'\s*(?P<k>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*"(?P<v>(?:[^"\\]|\\.)*)"\s*(?:,|$)')


def expand_values(text: str) -> list[Value]:
    """Expand promtool's notation.

    ``a+bxn`` is ``a, a+b, ..., a+n*b`` (n+1 samples), ``a-bxn`` counts down, ``axn`` is
    a repeated n+1 times, ``_`` is no sample (``_xn``: n of them), ``stale`` a marker.

    Raises:
        ValueError: a term is not in the notation.
    """
    out: list[Value] = []
    for term in text.split():
        if term == STALE:
            out.append(STALE)
            continue
        gap = _GAP.match(term)
        if gap is not None:
            out += [None] * int(gap["n"] or 1)
            continue
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"bad value {term!r}: expected a, a+bxn, a-bxn, axn, _ or stale")
        start = float(match["a"])
        if match["n"] is None:
            out.append(start)
            continue
        delta = float(match["delta"] or 0)
        out += [start + i * delta for i in range(int(match["n"]) + 1)]
    return out


def parse_selector(text: str) -> tuple[str, dict[str, str]]:
    """``name{k="v",...}`` as ``(name, labels)``.

    Raises:
        ValueError: the text is not a series with a name and ``k="v"`` labels.
    """
    match = _NAME.match(text)
    if match is None:
        raise ValueError(f'bad series {text!r}: expected name{{label="value",...}}')
    labels: dict[str, str] = {}
    body = (match["body"] or "").strip()
    pos = 0
    while pos < len(body):
        label = _LABEL.match(body, pos)
        if label is None:
            raise ValueError(f"bad labels in series {text!r} at {body[pos:]!r}")
        labels[label["k"]] = re.sub(r"\\(.)", r"\1", label["v"])
        pos = label.end()
    return match["name"], labels
