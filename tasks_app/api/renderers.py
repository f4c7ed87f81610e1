"""The JSON renderer of the REST and JSON-RPC answers: DRF's ``JSONRenderer``, byte for byte, with
the encoding done by ``orjson`` where that gives the same bytes.

A 10,000-task create answers 7.5 MB of JSON: ``json.dumps`` (DRF's renderer) took ≈ 40 ms of it on a
quiet machine, ``orjson.dumps`` ≈ 4 ms (docs/performance.md, "Creating 10,000 tasks (round 4)").
The two agree on everything DRF's renderer writes (compact separators, UTF-8 text rather than
``\\u`` escapes, the same string escapes) except for

* a few floats: below 1e-4 Python writes ``1e-05`` / ``1.5e-07`` where orjson writes ``0.00001`` /
  ``1.5e-7``;
* what ``json`` cannot encode either (a lone surrogate, an integer beyond 64 bits, a dict key that
  is not a string, a type only DRF's encoder knows: ``Decimal``, ``timedelta``, lazy strings,
  querysets), where orjson raises;
* datetimes (DRF writes ``Z`` for UTC and keeps orjson's microseconds), ``U+2028`` / ``U+2029``
  (DRF escapes them).

So: datetimes and dataclasses are handed to DRF's encoder (``default``), the two line separators are
escaped as DRF escapes them, and the answer falls back to DRF's own rendering when orjson raises,
or when the output holds ``0.0000`` or an exponent ``e-<one digit>`` ending a number (possibly a
float written the other way; also a string holding those characters: then the fallback only costs
time). Anything but
the compact form (an ``indent`` in the ``Accept`` header, ``COMPACT_JSON=False``,
``UNICODE_JSON=False``) is DRF's.

One difference is kept on purpose: a ``NaN`` or an infinity (which no request can carry — the
parser refuses them — but a value stored on SQLite by an executor can) is written ``null``, where
DRF's renderer raised and the answer was a 500.
"""

from __future__ import annotations

import re

import orjson
from rest_framework import renderers

# where orjson and json may write a float differently (see the module docstring): ``0.0000…``, or a
# one-digit negative exponent ending a number token (``,``, ``]``, ``}`` or the end follow it). Not any
# ``e-4``: UUIDs are full of them (``…61e-4b…``), but in a UUID a hex digit or ``-``/``"`` follows.
# A literal first, so that ``re`` scans for it in C: ≈ 5 ms over 7.5 MB (a pattern starting with a
# class took 55 ms)
_SMALL_EXPONENT = re.compile(rb"e-\d(?:[,\]}]|\Z)")
_SMALL_DECIMAL = b"0.0000"
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_LS, _PS = "\u2028".encode(), "\u2029".encode()


class JSONRenderer(renderers.JSONRenderer):
    """DRF's ``JSONRenderer`` with the same output, encoded by orjson where it agrees."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or not self.compact or self.ensure_ascii or not self.strict:
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        encoder = self.encoder_class()
        try:
            out = orjson.dumps(data, default=encoder.default, option=_OPTIONS)
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            return super().render(data, accepted_media_type, renderer_context)
        if _SMALL_DECIMAL in out or _SMALL_EXPONENT.search(out) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        if _LS in out or _PS in out:
            out = out.replace(_LS, b"\\u2028").replace(_PS, b"\\u2029")
        return out
