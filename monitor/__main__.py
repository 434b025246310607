"""``python -m monitor``: the ``backlog-monitor`` command, run by this interpreter."""

from monitor.cli import main

if __name__ == "__main__":
    main(prog_name="backlog-monitor")
