"""Operations: liveness/readiness probes, process heartbeats and Prometheus metrics.

``/healthz`` (public, no database), ``/readyz`` (database, broker, Redis; ``?scope=all`` adds
workers, reaper and queue), ``/metrics`` (Prometheus text). See docs/deployment.md.
"""
