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
