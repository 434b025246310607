"""Mappings of the help desks whose databases we read, one module per product.

Each preset is a dict of :class:`collectors.sqlmap.SqlMapping` fields; ``{p}`` stands for
the table prefix (osTicket's configurable ``ost_``). Users override any field.
"""

from __future__ import annotations

from typing import Any

from collectors.presets import glpi, osticket, otrs, rt, zammad

PRESETS: dict[str, dict[str, Any]] = {
    "osticket": osticket.PRESET,
    "glpi": glpi.PRESET,
    "otrs": otrs.PRESET,
    "znuny": otrs.PRESET,
    "rt": rt.PRESET,
    "zammad": zammad.PRESET,
}
"""Every preset, by the name ``mapping.preset`` takes."""

INDEXES: dict[str, tuple[str, ...]] = {
    "osticket": osticket.INDEXES,
    "glpi": glpi.INDEXES,
    "otrs": otrs.INDEXES,
    "znuny": otrs.INDEXES,
    "rt": rt.INDEXES,
    "zammad": zammad.INDEXES,
}
"""The indexes each preset relies on (documented; never created by the collector)."""
