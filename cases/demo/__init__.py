"""The deterministic demo registry, shaped like the UK OOS CAR-T panel paper (Blood Cancer J 2025).

``registry_seed`` writes it (``python manage.py seed_demo``); ``design`` holds the paper's counts
and the profiles behind them. Besides the paper's 981 LBCL cases (axi-cel / tisa-cel, approved
January 2019 - January 2023) the registry holds a few dozen cases of other products and
indications approved in 2023-2024, all manufactured in specification. Analyses that reproduce
the paper select its cohort with ``paper_cohort_q()`` (or ``PAPER_COHORT`` as filter kwargs).
"""

from django.db.models import Q

from cases.demo.design import PAPER_INDICATION, PAPER_PRODUCTS, PAPER_WINDOW, in_paper_cohort
from cases.demo.seeding import DEMO_PASSWORD, demo_logins, registry_is_empty, registry_reset, registry_seed

# Filter kwargs on Case for the paper's cohort: LBCL, axi-cel or tisa-cel, approved Jan 2019 - Jan 2023.
PAPER_COHORT = {
    "indication": PAPER_INDICATION,
    "product__code__in": PAPER_PRODUCTS,
    "approval_date__range": PAPER_WINDOW,
}


def paper_cohort_q(prefix: str = "") -> Q:
    """The paper's cohort as a Q on Case (``prefix`` e.g. "case__" when filtering a related model)."""
    return Q(**{f"{prefix}{key}": value for key, value in PAPER_COHORT.items()})


__all__ = ["DEMO_PASSWORD", "PAPER_COHORT", "demo_logins", "in_paper_cohort", "paper_cohort_q",
           "registry_is_empty", "registry_reset", "registry_seed"]
