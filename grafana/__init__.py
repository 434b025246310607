"""The Grafana dashboards as code; ``python -m grafana`` writes grafana/dashboards/*.json.

Development only: nothing here is installed or imported by the daemon.
"""
