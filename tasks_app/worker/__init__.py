"""The worker runtime: the drain loop, the executor thread pool, lease renewal, cooperative and
hard cancellation (signals, killing child processes and the worker process itself).

``loop`` is entered from ``jobs.drain_job`` (django-q2), ``manage.py arbor --inline`` and the
inline dispatch mode. It changes state only through ``services`` (``services.runs`` claims and
finishes attempts; ``services.dispatch`` wakes more workers); services never import it, except
the two lazy imports listed in the import-linter ``layers`` contract.
"""
