"""Pure statistics for the registry report, each function equal to the R call named in CONTRACT.md.

No Django here: callers pass plain sequences / arrays and get plain dicts shaped like the report JSON
entries, floats unrounded, None where R gives NA. tests/reference/ holds the R script and the values
R produced that tests/analytics/test_stats.py compares against.
"""

from .ranks import kruskal, rank_sum
from .survival import LANDMARKS, cox_pair, km_curve, km_summary, logrank, ph_test
from .tables import EXACT_RXC_MAX_CASES, binomial_rate, drop_empty, fisher, logistic_or, trend_test

__all__ = [
    "EXACT_RXC_MAX_CASES",
    "LANDMARKS",
    "binomial_rate",
    "cox_pair",
    "drop_empty",
    "fisher",
    "km_curve",
    "km_summary",
    "kruskal",
    "logistic_or",
    "logrank",
    "ph_test",
    "rank_sum",
    "trend_test",
]
