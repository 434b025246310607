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

VARIANTS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "glpi": {
        "group_assignment": glpi.GROUP_ASSIGNMENT,
        "backfill_groups": glpi.BACKFILL_GROUPS,
    },
}
"""Preset options: preset -> option -> value -> the fields that value sets. The preset
holds the option's default value; fields the user gives still override the variant's."""

INDEXES: dict[str, tuple[str, ...]] = {
    "osticket": osticket.INDEXES,
    "glpi": glpi.INDEXES,
    "otrs": otrs.INDEXES,
    "znuny": otrs.INDEXES,
    "rt": rt.INDEXES,
    "zammad": zammad.INDEXES,
}
"""The indexes each preset relies on (documented; never created by the collector)."""
