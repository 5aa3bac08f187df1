"""Hypothesis profiles: `ci` (make test) is derandomized and bounded; `long` (make fuzz) is not."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

# 1,000 requests per route, the same ones every run, nothing remembered between runs.
settings.register_profile(
    "ci",
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=SLOW_IS_FINE,
    print_blob=True,
)
# New requests each run, many more of them; failures are kept in .hypothesis/ to replay.
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("CODA_FUZZ_EXAMPLES", "25000")),
    deadline=None,
    suppress_health_check=SLOW_IS_FINE,
    print_blob=True,
)
settings.load_profile(os.environ.get("CODA_FUZZ_PROFILE", "ci"))
