"""The weekly report as a Slack Block Kit message (pure).

The Markdown summary (``render.markdown``) is turned into blocks line by line: the
``#`` title becomes the header, each ``##`` section a bold line starting a new section
block, ``- `` items bullets. Slack cannot take the HTML page or the CSV files through an
incoming webhook, so a context line says where they are (``full_report`` in the payload:
the page's link when ``report.link`` is set, else the e-mail or the command).

This module imports nothing from the notifiers: the Slack notifier imports it.
"""

from __future__ import annotations

from typing import Any

REPORT_EVENT = "report.weekly"
"""The report's event name in the outbox and on webhooks."""
HEADER_LIMIT = 150
TEXT_LIMIT = 3000
MAX_BLOCKS = 50


def render_report(payload: dict[str, Any]) -> dict[str, Any]:
    """The Block Kit message of a report payload (``deliver.payload``)."""
    summary = str(payload.get("summary", ""))
    title = f"Backlog report {payload.get('source', '')}"
    sections: list[list[str]] = [[]]
    for line in summary.splitlines():
        if line.startswith("# "):
            title = line[2:].strip()
        elif line.startswith("## "):
            sections.append([f"*{_escape(line[3:].strip())}*"])
        elif line.startswith("- "):
            sections[-1].append(f"• {_inline(line[2:])}")
        elif line.strip():
            sections[-1].append(_inline(line))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_LIMIT)}}
    ]
    for lines in sections:
        if lines:
            text = _clip("\n".join(lines), TEXT_LIMIT)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    blocks = blocks[: MAX_BLOCKS - 1]
    note = payload.get("full_report")
    if note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": str(note)}]})
    return {"text": _clip(title, TEXT_LIMIT), "blocks": blocks}


def full_report_note(link: str | None, emailed_to: tuple[str, ...]) -> str:
    """Where the page and the CSV files are (Slack gets only the summary)."""
    if link:
        return f"<{_escape(link)}|Full report: HTML page and CSV files>"
    if emailed_to:
        return "The HTML page and the CSV files were e-mailed to " + _escape(", ".join(emailed_to))
    return "The HTML page and the CSV files: `backlog-monitor report --out DIR`"


def _inline(text: str) -> str:
    """Markdown ``**bold**`` as Slack's ``*bold*``, after mrkdwn escaping."""
    return _escape(text).replace("**", "*")


def _escape(text: str) -> str:
    """Slack mrkdwn: only ``&``, ``<`` and ``>`` are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
