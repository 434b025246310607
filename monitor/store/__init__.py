"""The history store: schema, Alembic migrations, and the queries the daemon runs."""
