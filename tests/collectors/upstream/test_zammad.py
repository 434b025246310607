"""The Zammad preset on PostgreSQL tables built from Zammad's migrations (transcribed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from tests.collectors.upstream import dbs, rails, zammad
from tests.collectors.upstream.expect import Capabilities, check

pytestmark = pytest.mark.postgres

SCHEMA = dbs.HERE / "zammad" / "schema.yaml"


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[str, dict[str, pd.DataFrame]]]:
    """A PostgreSQL schema built from the transcribed migrations, filled from real incidents."""
    with dbs.fresh_postgres() as url:
        rows = zammad.tables(rails.seeds(SCHEMA))
        dbs.load(url, rails.create_tables(SCHEMA), rows)
        yield url, rows


class TestZammadUpstream:
    def test_figures_match_zammad(self, database: Any) -> None:
        """Every figure equals Zammad's own reading of the rows, for every window."""
        url, rows = database
        check(url, "zammad", zammad.facts(rows), Capabilities())

    def test_test_bed_has_the_awkward_rows(self, database: Any) -> None:
        """Merged, removed, imported (close_at only), reopened and system-owned tickets."""
        _, rows = database
        t = rows["tickets"]
        assert (t["state_id"] == 5).sum() > 50 and (t["state_id"] == 6).sum() > 50
        assert (t["close_at"].notna() & t["last_close_at"].isna()).sum() > 100
        assert (t["owner_id"] == zammad.SYSTEM_USER).sum() > 100
        assert zammad.facts(rows)["reopened"].notna().sum() > 20
