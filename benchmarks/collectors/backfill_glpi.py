"""GLPI's ``backfill`` per assigned group from ``glpi_logs``, at scale (PostgreSQL or MariaDB).

    python -m benchmarks.collectors.backfill_glpi [--engine postgresql|mariadb]
        [--size 1000000] [--repeat 1] [--history-only]

The tickets are ``benchmarks.collectors.backfill``'s table (``bench_sqlpoll.tickets_N``,
the real ServiceNow incidents replicated in time) and their moves are
``benchmarks.collectors.backfill_history``'s (``moves_N``: the log's real reassignments,
replicated as the tickets are). This module writes them the way GLPI keeps them, in
tables of its own (``glpibf_*_N``):

- ``glpibf_groups_N``: one group per queue of the moves and the tickets, split in seven
  by ticket id as the other benchmarks' queues are (``name/k``);
- ``glpibf_links_N``: today's assigned group of each ticket (``glpi_groups_tickets``,
  ``type = 2``; unique ``(tickets_id, type, groups_id)`` as GLPI ships it);
- ``glpibf_logs_N``: per move, the old group removed (``linked_action`` 16) and the new
  one added (15) as relation rows (``itemtype`` ``'Ticket'``, ``itemtype_link``
  ``'Group'``, ``id_search_option`` 8, the group as ``name (id)``), ids in time order,
  with GLPI's ``item (itemtype, items_id)`` and ``date_mod`` indexes.

The mapping is the GLPI preset's groups (``every_assigned_group``: the fan-out join, its
``queue_join`` with ``rows``, ``held`` and ``changes``) with these tables' names, over
the benchmark's ticket columns. As in ``backfill_history``, the ticket's group of today
is the incident's last group while the moves stop at ``AS_OF``, so the history is not
consistent with today's links for every ticket: this measures cost, not figures (the
figures are tested against pandas in ``tests/collectors/presets/test_backfill_glpi.py``).

For each run, the shipping backfill (``monitor.backfill.backfill_source``, 90 days,
30-day chunks, into a fresh SQLite history store) without the history (today's groups,
``past_state`` unset) and then with it: time in the ticket store's statements, total,
CPU of this process, rows written, load average before and after.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from benchmarks.collectors import backfill_history, sqldata
from benchmarks.collectors.backfill import SPLIT, URLS
from collectors.presets import glpi
from collectors.sql import SqlCollector, SqlSourceConfig
from collectors.sqlmap import SqlMapping

SCHEMA = sqldata.SCHEMA


def tables(n: int) -> dict[str, str]:
    """This benchmark's tables for the ``n``-ticket table, by the GLPI table they stand for."""
    return {
        "glpi_groups_tickets": f"{SCHEMA}.glpibf_links_{n}",
        "glpi_groups": f"{SCHEMA}.glpibf_groups_{n}",
        "glpi_logs": f"{SCHEMA}.glpibf_logs_{n}",
    }


def renamed(text: str, n: int) -> str:
    """GLPI SQL of the preset with this benchmark's table names."""
    names = tables(n)
    text = text.replace("glpi_groups_tickets", "\0links")
    text = text.replace("glpi_groups", names["glpi_groups"]).replace(
        "glpi_logs", names["glpi_logs"]
    )
    return text.replace("\0links", names["glpi_groups_tickets"])


def ensure(admin: sa.Engine, n: int) -> dict[str, int]:
    """GLPI's tables for the ``n``-ticket table (built once); rows per table."""
    backfill_history.ensure(admin, n)
    names, tickets, moves = tables(n), sqldata.qualified(n), backfill_history.moves_table(n)
    pg = admin.dialect.name == "postgresql"
    with admin.begin() as conn:
        have = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.tables"
            f" WHERE table_schema = '{SCHEMA}' AND table_name = 'glpibf_logs_{n}'"
        ).scalar_one()
        if not have:
            key = "BIGSERIAL PRIMARY KEY" if pg else "BIGINT AUTO_INCREMENT PRIMARY KEY"
            split = f"MOD(t.id, {SPLIT})"
            for table in names.values():
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            conn.exec_driver_sql(
                f"CREATE TABLE {names['glpi_groups']} (id {key}, completename VARCHAR(80) NOT NULL)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {names['glpi_groups']} (completename) SELECT q FROM ("
                f"SELECT CONCAT(t.queue, '/', {split}) AS q FROM {tickets} t"
                f" UNION SELECT CONCAT(m.old_queue, '/', MOD(m.ticket_id, {SPLIT})) FROM {moves} m"
                f" UNION SELECT CONCAT(m.new_queue, '/', MOD(m.ticket_id, {SPLIT})) FROM {moves} m"
                ") names ORDER BY q"
            )
            conn.exec_driver_sql(
                f"CREATE UNIQUE INDEX glpibf_groups_{n}_name"
                f" ON {names['glpi_groups']} (completename)"
            )
            conn.exec_driver_sql(
                f"CREATE TABLE {names['glpi_groups_tickets']} (id {key},"
                " tickets_id BIGINT NOT NULL, groups_id BIGINT NOT NULL, type INT NOT NULL)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {names['glpi_groups_tickets']} (tickets_id, groups_id, type)"
                f" SELECT t.id, g.id, 2 FROM {tickets} t JOIN {names['glpi_groups']} g"
                f" ON g.completename = CONCAT(t.queue, '/', {split}) ORDER BY t.id"
            )
            conn.exec_driver_sql(
                f"CREATE UNIQUE INDEX glpibf_links_{n}_unicity"
                f" ON {names['glpi_groups_tickets']} (tickets_id, type, groups_id)"
            )
            conn.exec_driver_sql(
                f"CREATE TABLE {names['glpi_logs']} (id {key}, itemtype VARCHAR(100) NOT NULL,"
                " items_id BIGINT NOT NULL, itemtype_link VARCHAR(100) NOT NULL,"
                f" linked_action INT NOT NULL, date_mod {'TIMESTAMP' if pg else 'DATETIME'},"
                " id_search_option INT NOT NULL, old_value VARCHAR(255), new_value VARCHAR(255))"
            )
            # per move: the old group removed, then the new one added (ids in time order)
            named = "CONCAT(g.completename, ' (', g.id, ')')"
            conn.exec_driver_sql(
                f"INSERT INTO {names['glpi_logs']} (itemtype, items_id, itemtype_link,"
                " linked_action, date_mod, id_search_option, old_value, new_value)"
                " SELECT 'Ticket', r.ticket_id, 'Group', r.action, r.at, 8, r.old_value,"
                " r.new_value FROM ("
                f"SELECT m.id, m.ticket_id, m.at, 16 AS action, {named} AS old_value,"
                " '' AS new_value"
                f" FROM {moves} m JOIN {names['glpi_groups']} g"
                f" ON g.completename = CONCAT(m.old_queue, '/', MOD(m.ticket_id, {SPLIT}))"
                f" UNION ALL SELECT m.id, m.ticket_id, m.at, 15, '', {named}"
                f" FROM {moves} m JOIN {names['glpi_groups']} g"
                f" ON g.completename = CONCAT(m.new_queue, '/', MOD(m.ticket_id, {SPLIT}))"
                ") r ORDER BY r.at, r.id, r.action DESC"
            )
            conn.exec_driver_sql(
                f"CREATE INDEX glpibf_logs_{n}_item ON {names['glpi_logs']} (itemtype, items_id)"
            )
            conn.exec_driver_sql(
                f"CREATE INDEX glpibf_logs_{n}_date_mod ON {names['glpi_logs']} (date_mod)"
            )
            analyze = "ANALYZE" if pg else "ANALYZE TABLE"
            for table in names.values():
                conn.exec_driver_sql(f"{analyze} {table}")
        return {
            name: int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())
            for name, table in names.items()
        }


def mapping(n: int, history: bool) -> SqlMapping:
    """The preset's assigned groups over this benchmark's tables (``history``: with its
    ``queue_join`` read over time)."""
    joins = [
        {**j, "table": renamed(j["table"], n), "on": renamed(j["on"], n)}
        for j in glpi.GROUP_ASSIGNMENT["every_assigned_group"]["joins"]
    ]
    join = glpi.PAST_GROUPS["queue_join"]
    past = {
        "queue_join": {
            **{k: renamed(v, n) for k, v in join.items() if isinstance(v, str)},
            "changes": {k: renamed(v, n) for k, v in join["changes"].items()},
        }
    }
    return SqlMapping.model_validate(
        {
            "table": sqldata.qualified(n),
            "joins": joins,
            "id": "id",
            "queue": "COALESCE(g.completename, '(unassigned)')",
            "status": "status",
            "created_at": "created_at",
            "resolved_at": "resolved_at",
            "open_statuses": ["open"],
            "timezone": "UTC",
            "past_state": past if history else None,
        }
    )


def collector(engine_name: str, n: int, history: bool) -> SqlCollector:
    config = SqlSourceConfig(
        kind="sql",
        name="bench-glpi-history" if history else "bench-glpi",
        url=URLS[engine_name],
        timeout=timedelta(seconds=3600),
        mapping=mapping(n, history),
    )
    return SqlCollector(config)


def run(engine_name: str, n: int, history: bool) -> dict[str, Any]:
    return backfill_history.measure(collector(engine_name, n, history), engine_name, history)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=sorted(URLS), default="postgresql")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--history-only", action="store_true", help="skip the run without it")
    parser.add_argument("--build-only", action="store_true", help="build the tables and stop")
    args = parser.parse_args(argv)
    admin = sa.create_engine(URLS[args.engine])
    counts = ensure(admin, args.size)
    admin.dispose()
    print(f"{args.size:,} tickets; rows: {counts}", flush=True)
    if args.build_only:
        return 0
    for _ in range(args.repeat):
        for history in (True,) if args.history_only else (False, True):
            print(run(args.engine, args.size, history), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
