"""Evaluation runs, their per-sample results, hallucination findings and per-system limits."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents import choices
from incidents.querysets import EvaluationSampleQuerySet, SystemScopedQuerySet


class EvaluationRun(models.Model):
    """One evaluation of one AI system's model version on one benchmark, with its counts and the
    hallucination rate and 95 % interval computed from them."""

    system = models.ForeignKey(
        "governance.AISystem", on_delete=models.PROTECT, related_name="evaluation_runs"
    )
    team = models.ForeignKey(
        "governance.Team", on_delete=models.PROTECT, related_name="+", help_text="Owning team when posted."
    )
    model = models.ForeignKey(
        "governance.AIModel", null=True, blank=True, on_delete=models.PROTECT, related_name="evaluation_runs"
    )
    model_provider = models.CharField(max_length=200, blank=True)
    model_name = models.CharField(max_length=200)
    model_version = models.CharField(max_length=200)
    benchmark_name = models.CharField(max_length=200)
    benchmark_version = models.CharField(max_length=100, blank=True)
    dataset_sha256 = models.CharField("dataset SHA-256", max_length=64, blank=True)
    task_kind = models.CharField(max_length=20, choices=choices.TaskKind.choices)
    judge_kind = models.CharField(max_length=12, choices=choices.JudgeKind.choices)
    judge_name = models.CharField(max_length=200, blank=True)
    judge_version = models.CharField(max_length=100, blank=True)
    parameters = models.JSONField(default=dict, blank=True, help_text="Temperature, prompt template hash, …")
    code_commit = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    samples = models.PositiveIntegerField()
    attempted = models.PositiveIntegerField()
    abstained = models.PositiveIntegerField(default=0)
    correct = models.PositiveIntegerField()
    hallucinated = models.PositiveIntegerField()
    claims = models.PositiveIntegerField(null=True, blank=True, help_text="Claims checked (claims basis).")
    hallucinated_claims = models.PositiveIntegerField(null=True, blank=True)
    rate_basis = models.CharField(max_length=12, choices=choices.RateBasis.choices)
    interval_method = models.CharField(
        max_length=16, choices=choices.IntervalMethod.choices, default=choices.IntervalMethod.WILSON
    )
    rate_numerator = models.PositiveIntegerField(editable=False)
    rate_denominator = models.PositiveIntegerField(editable=False)
    hallucination_rate = models.FloatField(
        null=True, editable=False, help_text="None when the basis is empty."
    )
    interval_low = models.FloatField(null=True, editable=False)
    interval_high = models.FloatField(null=True, editable=False)
    artifact_uri = models.CharField(max_length=1000, blank=True)
    artifact_sha256 = models.CharField("artifact SHA-256", max_length=64, blank=True)
    has_samples = models.BooleanField(
        default=False, editable=False, help_text="Posted with per-sample results."
    )
    limit_rate = models.FloatField(
        null=True, blank=True, editable=False, help_text="The limit it was judged by."
    )
    exceeded_limit = models.BooleanField(default=False, editable=False)
    escalation_key = models.CharField(
        max_length=600, blank=True, editable=False, help_text="System, model version and benchmark."
    )
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evaluation_runs",
        help_text="The incident this run opened or added to.",
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SystemScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["system", "model_version", "benchmark_name", "created_at"], name="run_trend"
            ),
            models.Index(fields=["escalation_key"], name="run_escalation"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(attempted__lte=models.F("samples"))
                & Q(correct__lte=models.F("attempted"))
                & Q(hallucinated__lte=models.F("attempted")),
                name="evaluation_counts_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.benchmark_name} on {self.model_name} {self.model_version} ({self.system})"


class EvaluationSample(models.Model):
    """One sample's result in a run posted with per-sample results (written with COPY)."""

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="sample_results")
    line = models.PositiveIntegerField(help_text="Position in the upload, from 1.")
    sample_id = models.CharField(max_length=200)
    grade = models.CharField(max_length=14, choices=choices.SampleGrade.choices)
    claims = models.PositiveIntegerField(null=True, blank=True)
    hallucinated_claims = models.PositiveIntegerField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)

    objects = EvaluationSampleQuerySet.as_manager()

    class Meta:
        ordering = ["run", "line"]
        constraints = [models.UniqueConstraint(fields=["run", "line"], name="unique_sample_line")]

    def __str__(self) -> str:
        return f"{self.sample_id}: {self.grade}"


class HallucinationLimit(models.Model):
    """The highest hallucination rate a system may show, on any benchmark or one named benchmark."""

    system = models.ForeignKey(
        "governance.AISystem", on_delete=models.CASCADE, related_name="hallucination_limits"
    )
    benchmark_name = models.CharField(max_length=200, blank=True, help_text="Empty: every benchmark.")
    max_rate = models.FloatField(help_text="Between 0 and 1.")
    judged_on = models.CharField(
        max_length=12, choices=choices.LimitJudgedOn.choices, default=choices.LimitJudgedOn.RATE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SystemScopedQuerySet.as_manager()

    class Meta:
        ordering = ["system", "benchmark_name"]
        constraints = [
            models.UniqueConstraint(fields=["system", "benchmark_name"], name="unique_hallucination_limit"),
            models.CheckConstraint(condition=Q(max_rate__gte=0) & Q(max_rate__lte=1), name="limit_is_a_rate"),
        ]

    def __str__(self) -> str:
        return f"{self.system}: at most {self.max_rate:.1%} on {self.benchmark_name or 'any benchmark'}"


class HallucinationFinding(models.Model):
    """One hallucinated (or suspected) claim in one response; re-posting it returns this row."""

    run = models.ForeignKey(
        EvaluationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="findings"
    )
    system = models.ForeignKey("governance.AISystem", on_delete=models.PROTECT, related_name="hallucinations")
    team = models.ForeignKey("governance.Team", on_delete=models.PROTECT, related_name="+")
    model_name = models.CharField(max_length=200)
    model_version = models.CharField(max_length=200)
    benchmark_name = models.CharField(max_length=200, blank=True)
    sample_id = models.CharField(max_length=200, blank=True)
    prompt = models.TextField(blank=True, help_text="Empty when the prompt is sensitive: then only its hash.")
    prompt_sha256 = models.CharField("prompt SHA-256", max_length=64, blank=True)
    response_excerpt = models.TextField(blank=True)
    claim = models.TextField()
    reference = models.TextField(blank=True, help_text="The gold answer or the source.")
    kind = models.CharField(max_length=10, choices=choices.HallucinationKind.choices)
    subtype = models.CharField(max_length=24, choices=choices.HallucinationSubtype.choices)
    grade = models.CharField(max_length=14, choices=choices.SampleGrade.choices)
    detector_score = models.FloatField(null=True, blank=True)
    detector_threshold = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=4, choices=choices.Severity.choices())
    status = models.CharField(
        max_length=16, choices=choices.FindingStatus.choices, default=choices.FindingStatus.NEW
    )
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    dedupe_hash = models.CharField(
        max_length=64, unique=True, editable=False, help_text="Normalised model, benchmark, sample and claim."
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SystemScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["system", "status"], name="finding_triage")]

    def __str__(self) -> str:
        return f"{self.get_subtype_display()}: {self.claim[:60]}"
