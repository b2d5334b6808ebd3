from django.conf import settings
from django.db import models


class MatchedControlSet(models.Model):
    """A saved, reproducible 1:1 matched control set (same product, nearest approval date).

    Only one set is current; the analyses use it. Regenerating with the same seed on the same
    registry gives the same pairs.
    """

    seed = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    is_current = models.BooleanField(default=False)
    method = models.TextField(default="1:1, same product, nearest approval date; ties broken by the seed")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["is_current"], condition=models.Q(is_current=True),
                                               name="one_current_control_set")]

    def __str__(self):
        return f"Control set {self.pk} (seed {self.seed})"


class MatchedControlPair(models.Model):
    control_set = models.ForeignKey(MatchedControlSet, on_delete=models.CASCADE, related_name="pairs")
    mf_case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    control_case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["control_set", "mf_case"], name="one_control_per_mf_case"),
            models.UniqueConstraint(fields=["control_set", "control_case"], name="control_used_once"),
        ]

    def __str__(self):
        return f"{self.mf_case_id} ~ {self.control_case_id}"


class ReportStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"


class ReportTrigger(models.TextChoices):
    PAGE = "page", "Report page"
    API = "api", "API"
    COMMAND = "command", "recompute_reports"
    SCHEDULE = "schedule", "Nightly schedule"


class CohortReport(models.Model):
    """One computed report (CONTRACT.md's JSON plus its SVG plots) for one set of filters.

    A snapshot is written while it runs (status, progress) and becomes the one served for its
    filters only when complete: ``is_current`` moves to it in the same transaction that takes it
    off the previous one, so a failed or interrupted run never replaces a good report. The
    unfiltered current snapshot (``filter_key`` "") is "the" latest report.
    """

    filters = models.JSONField(default=dict, blank=True)
    filter_key = models.CharField(max_length=200, blank=True, default="", db_index=True,
                                  help_text="canonical text of the filters; empty for the unfiltered report")
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.RUNNING)
    is_current = models.BooleanField(default=False)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True, default="")
    trigger = models.CharField(max_length=10, choices=ReportTrigger.choices, default=ReportTrigger.PAGE)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="")
    control_set = models.ForeignKey(MatchedControlSet, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    control_seed = models.IntegerField(null=True, blank=True)
    data_as_of = models.DateTimeField(null=True, blank=True)
    n_cases = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)
    plots = models.JSONField(default=dict, blank=True, help_text="SVG text by plot name")
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["filter_key"], condition=models.Q(is_current=True),
                                    name="one_current_report_per_filters"),
            models.CheckConstraint(condition=~models.Q(is_current=True) | models.Q(status="complete"),
                                   name="only_complete_report_is_current"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="report_progress_at_most_100"),
        ]

    def __str__(self):
        what = self.filter_key or "all filters off"
        return f"Report {self.pk} ({what}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status != ReportStatus.RUNNING


class RecomputeLock(models.Model):
    """The lease that lets one recompute run at a time where no advisory lock exists (SQLite).

    PostgreSQL uses a session advisory lock instead, released by the server when the worker's
    connection drops, so a killed worker never leaves it held.
    """

    name = models.CharField(max_length=40, primary_key=True)
    holder = models.CharField(max_length=100, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name}: {self.holder or 'free'}"
