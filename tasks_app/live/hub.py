"""In-process hook for freshly committed events (replaced by the cross-process delivery path)."""

from __future__ import annotations

_listeners: list = []


def add_listener(callback) -> None:
    _listeners.append(callback)


def remove_listener(callback) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


def deliver_local(payloads: list[dict]) -> None:
    for callback in list(_listeners):
        callback(payloads)
