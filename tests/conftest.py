"""Settings for the whole suite.

Hypothesis' per-example deadline is a timing assertion: on a shared 2-core machine a slow
example (the exact settle-up for 15 members) flakes past it. Speed is measured in ``bench/``,
never in tests, so examples run without a deadline.
"""

from hypothesis import settings

settings.register_profile("aequatio", deadline=None)
settings.load_profile("aequatio")
