"""The one-command demo: a real ServiceNow incident log replayed in compressed time."""
