"""The report filters: validated, normalised, and turned into the key that names "the" report for them."""

from __future__ import annotations

from cases.errors import DomainError
from cases.models import Case, Centre, Product

FILTER_FIELDS = ("scope", "product", "indication", "era", "centre")
SCOPES = {"paper": "The paper's cohort (LBCL, axi-cel / tisa-cel, Jan 2019 - Jan 2023)", "all": "Every case"}


def normalise_filters(raw: dict | None) -> dict:
    """Only the set filters, as stored on a snapshot; DomainError (with the field) for a value that does not exist.

    scope "paper" is the default and is left out, so the unfiltered report has no filters at all.
    """
    raw = {k: v for k, v in (raw or {}).items() if k in FILTER_FIELDS}
    clean: dict = {}
    scope = str(raw.get("scope") or "paper").strip()
    if scope not in SCOPES:
        raise DomainError("Scope must be 'paper' (the paper's cohort) or 'all' (every case).", field="scope")
    if scope != "paper":
        clean["scope"] = scope
    product = str(raw.get("product") or "").strip()
    if product:
        if not Product.objects.filter(code=product).exists():
            raise DomainError(f"No product has the code '{product[:40]}'.", field="product")
        clean["product"] = product
    indication = str(raw.get("indication") or "").strip()
    if indication:
        if len(indication) > 40 or not Case.objects.filter(indication=indication).exists():
            raise DomainError(f"No case is registered for the indication '{indication[:40]}'.", field="indication")
        clean["indication"] = indication
    era = raw.get("era")
    if era not in (None, ""):
        try:
            era = int(era)
        except (TypeError, ValueError):
            era = None
        if era not in (1, 2):
            raise DomainError("Era must be 1 (approval before the era boundary) or 2.", field="era")
        clean["era"] = era
    centre = str(raw.get("centre") or "").strip()
    if centre:
        if not Centre.objects.filter(code=centre).exists():
            raise DomainError(f"No centre has the code '{centre[:20]}'.", field="centre")
        clean["centre"] = centre
    return clean


def filter_key(filters: dict) -> str:
    """Canonical text of normalised filters, e.g. "centre=uhb;era=2"; "" when none are set."""
    return ";".join(f"{k}={filters[k]}" for k in FILTER_FIELDS if k in filters)


def loader_arguments(filters: dict) -> dict:
    """The keyword arguments of analytics.dataset.load_analysis_data for normalised filters."""
    return {"paper_cohort": filters.get("scope", "paper") == "paper",
            **{k: filters[k] for k in ("product", "indication", "era", "centre") if k in filters}}


def describe(filters: dict) -> str:
    if not filters:
        return "The paper's cohort, no filter"
    parts = [SCOPES[filters.get("scope", "paper")]]
    parts += [f"{k} {filters[k]}" for k in ("product", "indication", "era", "centre") if k in filters]
    return "; ".join(parts)
