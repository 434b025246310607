"""The osTicket preset on MariaDB tables built from the transcription of osTicket's schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.collectors.upstream import dbs, ddl, osticket
from tests.collectors.upstream.expect import FIGURES, Capabilities, check

pytestmark = pytest.mark.mariadb

SCHEMA = dbs.HERE / "osticket" / "schema.yaml"
CAPS = Capabilities(sla_kinds=("resolution",))
"""osTicket has no first-response deadline."""
SOURCE = {"mapping": {"table_prefix": osticket.PREFIX, "timezone": osticket.ZONE}}
UNASSIGNED = "unassigned"
MISSED = "sla_breached_window"
DISAGREE = (UNASSIGNED, MISSED)


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    """A MariaDB database built as osTicket builds it (SQL_MODE '', its session mode),
    filled from the real incidents, ``ticket__cdata`` built from the form answers."""
    schema = ddl.load(SCHEMA)
    rows = osticket.tables(schema["seeds"])
    with dbs.fresh_mariadb() as url:
        dbs.load(
            url,
            osticket.create_statements(schema),
            {osticket.PREFIX + name: frame for name, frame in rows.items()},
            setup="SET SESSION sql_mode = ''",
            finish=(osticket.cdata_statement(osticket.PREFIX, rows["form_field"]),),
        )
        yield url, rows


class TestOsticketUpstream:
    def test_figures_match_osticket(self, database: Any) -> None:
        """Every figure but the two the preset reads differently from osTicket is exact."""
        url, rows = database
        only = tuple(f for f in FIGURES if f not in DISAGREE)
        check(url, "osticket", osticket.facts(rows), CAPS, only=only, **SOURCE)

    @pytest.mark.xfail(
        strict=True,
        reason="preset counts staff_id = 0 as unassigned; osTicket's own 'unassigned'"
        " (AssigneeChoiceField '!assigned', Ticket::isAssigned) is staff_id = 0 AND"
        " team_id = 0, so a ticket assigned only to a team is assigned",
    )
    def test_team_only_tickets_are_assigned(self, database: Any) -> None:
        """A ticket assigned only to a team is not unassigned, as osTicket reads it."""
        url, rows = database
        check(url, "osticket", osticket.facts(rows), CAPS, only=(UNASSIGNED,), **SOURCE)

    @pytest.mark.xfail(
        strict=True,
        reason="osTicket clears duedate/est_duedate that are past when it closes a ticket"
        " (Ticket::setStatus -> clearOverdue), so deadlines missed by tickets closed since"
        " are gone: the figure should be absent (sla_history: false), the preset reports"
        " an undercount",
    )
    def test_missed_deadlines_in_window_are_unknown(self, database: Any) -> None:
        """'SLA missed in the window' is absent: osTicket keeps no missed deadline."""
        url, rows = database
        caps = Capabilities(sla_kinds=("resolution",), window_breaches=False)
        check(url, "osticket", osticket.facts(rows), caps, only=(MISSED,), **SOURCE)

    def test_cdata_is_built_from_the_ticket_form(self, database: Any) -> None:
        """ticket__cdata has a row per ticket with a form entry, the priority id as text."""
        url, rows = database
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                cdata = pd.read_sql(f"SELECT * FROM {osticket.PREFIX}ticket__cdata", conn)
                kind = conn.exec_driver_sql(
                    "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA ="
                    f" DATABASE() AND TABLE_NAME = '{osticket.PREFIX}ticket__cdata'"
                    " AND COLUMN_NAME = 'priority'"
                ).scalar()
        finally:
            engine.dispose()
        assert list(cdata.columns) == ["ticket_id", "subject", "priority"]
        assert set(cdata["ticket_id"]) == set(rows["form_entry"]["object_id"])
        assert kind in ("text", "mediumtext", "longtext")
        assert cdata["priority"].dropna().isin(["1", "2", "3", "4"]).all()
        assert cdata["priority"].isna().sum() > 20

    def test_test_bed_has_the_awkward_rows(self, database: Any) -> None:
        """Zero dates, deleted, archived, custom-status, reopened, team-only and due-date
        tickets, tickets without a form entry, and task replies before first replies."""
        _, rows = database
        t = rows["ticket"]
        assert (t["closed"] == osticket.ZERO).sum() > 20 and (
            t["reopened"] == osticket.ZERO
        ).sum() > 100
        assert (t["status_id"] == osticket.DELETED).sum() > 50
        assert (t["status_id"] == osticket.ARCHIVED).sum() > 20
        assert (t["status_id"] == osticket.AWAITING).sum() > 100
        reopened = t["reopened"].notna() & (t["reopened"] != osticket.ZERO)
        assert reopened.sum() > 20
        assert ((t["staff_id"] == 0) & (t["team_id"] > 0)).sum() > 20
        assert (t["duedate"].notna() & t["est_duedate"].notna()).sum() > 100
        assert len(t) - len(rows["form_entry"]) > 100
        threads = rows["thread"]
        assert (threads["object_type"] == "A").sum() > 300
