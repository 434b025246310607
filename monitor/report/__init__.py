"""The weekly backlog report: figures (``build``), files (``render``), delivery (``deliver``)."""
