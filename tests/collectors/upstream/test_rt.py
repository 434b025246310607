"""The RT preset on PostgreSQL tables built from the transcription of RT's schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from tests.collectors.upstream import dbs, ddl, rt
from tests.collectors.upstream.expect import Capabilities, check

pytestmark = pytest.mark.postgres

CAPS = Capabilities(sla_kinds=("resolution",))


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    """A PostgreSQL schema built from the transcribed schema, filled from the real incidents."""
    with dbs.fresh_postgres() as url:
        rows = rt.tables()
        dbs.load(url, ddl.statements(dbs.HERE / "rt" / "schema.yaml", "postgresql"), rows)
        yield url, rows


class TestRtUpstream:
    def test_figures_match_rt(self, database: Any) -> None:
        """Every figure equals RT's own reading of the rows, for every window."""
        url, rows = database
        check(url, "rt", rt.facts(rows), CAPS)

    def test_test_bed_has_the_awkward_rows(self, database: Any) -> None:
        """Merged, deleted, rejected, reminder, reopened and Nobody-owned tickets, unset dates."""
        _, rows = database
        t = rows["tickets"]
        assert (t["id"] != t["effectiveid"]).sum() > 50 and (t["status"] == "deleted").sum() > 50
        assert (t["status"] == "rejected").sum() > 10 and (t["type"] == "reminder").sum() > 500
        assert (t["owner"] == rt.NOBODY).sum() > 100 and (t["due"] == rt.UNSET).sum() > 50
        assert t["resolved"].isna().sum() > 100 and (t["resolved"] == rt.UNSET).sum() > 100
        assert rt.facts(rows)["reopened"].notna().sum() > 20
