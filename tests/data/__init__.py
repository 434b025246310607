"""The real ticket logs kept in the repository (see ``PROVENANCE.md`` beside this file)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent

SERVICENOW_LOG = DATA / "servicenow_incident_event_log.csv.gz"
"""UCI ServiceNow incident event log (CC BY 4.0), trimmed to the columns read here."""

SERVICENOW_HOURLY = DATA / "servicenow_hourly_backlog.csv"
"""Hourly open/created/resolved of the whole ServiceNow log (derived)."""

BPIC2013_LOG = DATA / "bpic2013_volvo_incidents_VINST-new.csv.gz"
"""BPI Challenge 2013 (Volvo IT Belgium) incidents, byte-identical to the source."""

HELPDESK_LOG = DATA / "helpdesk_italian_eventlog.csv.gz"
"""The Italian help desk event log (4TU), byte-identical to the source."""
