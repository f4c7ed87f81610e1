"""Settings for the role processes the operations tests start (Daphne, arbor_worker).

The test settings plus production-like lease timings: these tests inject no fault, so a worker
starved of CPU on a 2-core machine must not be declared lost (which would run a task twice).
"""

from orchestrator_site.settings_test import *  # noqa: F403

ARBOR_LEASE_SECONDS = 10.0
ARBOR_HEARTBEAT_SECONDS = 1.0
ARBOR_REAPER_INTERVAL = 0.25
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
