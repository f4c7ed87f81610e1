"""Small rendering helpers shared by the admin classes: links, status labels, durations, JSON.

Every helper takes plain values (ids, names) so a changelist renders from the rows it already
loaded: none of them queries the database.
"""

from __future__ import annotations

import json

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

STATUS_SYMBOLS = {
    "pending": "○",
    "in_progress": "◔",
    "running": "◔",
    "completed": "✔",
    "failed": "✖",
    "cancelled": "⊘",
    "timed_out": "⏱",
    "worker_lost": "✖",
    "interrupted": "↺",
}
JSON_PREVIEW_CHARS = 20_000


def admin_url(model_name: str, pk=None, *, query: str = "") -> str:
    if pk is None:
        url = reverse(f"admin:tasks_app_{model_name}_changelist")
    else:
        url = reverse(f"admin:tasks_app_{model_name}_change", args=[pk])
    return f"{url}?{query}" if query else url


def link(model_name: str, pk, text) -> str:
    """``<a>`` to an object's admin page, or an empty marker when there is no object."""
    if pk is None:
        return "—"
    return format_html('<a href="{}">{}</a>', admin_url(model_name, pk), text)


def link_list(model_name: str, rows, *, empty: str = "none") -> str:
    """An HTML list of links from ``(pk, text)`` pairs."""
    rows = list(rows)
    if not rows:
        return empty
    items = format_html_join(
        "", '<li><a href="{}">{}</a></li>', ((admin_url(model_name, pk), text) for pk, text in rows)
    )
    return format_html('<ul class="arbor-links">{}</ul>', items)


def status_label(value: str | None, label: str | None = None) -> str:
    """A status as a symbol plus its text (never colour alone)."""
    if not value:
        return "—"
    return format_html(
        '<span class="arbor-status arbor-status-{}">{} {}</span>',
        value,
        STATUS_SYMBOLS.get(value, "•"),
        label or value.replace("_", " "),
    )


def seconds(value: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"
    minutes, secs = divmod(int(round(value)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def pretty_json(value) -> str:
    """Indented JSON in a ``<pre>``, cut at ``JSON_PREVIEW_CHARS`` characters."""
    if value is None:
        return "—"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    if len(text) > JSON_PREVIEW_CHARS:
        text = text[:JSON_PREVIEW_CHARS] + f"\n… ({len(text) - JSON_PREVIEW_CHARS} more characters)"
    return format_html('<pre class="arbor-json">{}</pre>', text)


def short_text(value, limit: int = 80) -> str:
    if value in (None, ""):
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def archived_banner() -> str:
    return mark_safe('<strong class="arbor-archived">archived: read-only</strong>')
