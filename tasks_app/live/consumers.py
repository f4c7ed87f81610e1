"""Websocket consumers (see docs/live.md)."""
