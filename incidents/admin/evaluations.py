"""Evaluation runs, hallucination findings and hallucination limits in the admin.

Runs are posted through the API and are evidence, so they are read-only here: the list shows each
run's rate with its 95 % interval, whether it broke its system's limit and the incident that opened.
The trend page draws a system's rates over time per model version (a server-side SVG) and compares
two versions with a two-proportion test. Findings are triaged with actions that go through
``incidents.services.evaluations.update_finding_status``; officers set limits through ``set_limit``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, Count, IntegerField, Value, When
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import Truncator

from governance.admin.base import ChangeHistoryMixin, ServiceForm
from governance.exceptions import Conflict, NotAllowed
from governance.models import AISystem
from governance.services.access import is_officer
from incidents import choices
from incidents.admin.charts import percent, rate_with_interval, trend_context
from incidents.models import EvaluationRun, HallucinationFinding, HallucinationLimit
from incidents.services import evaluations as services

EXCEEDED_COLOUR = "#cf222e"
SEVERITY_RANK = Case(
    *(When(severity=level.value, then=Value(rank)) for rank, level in enumerate(choices.Severity)),
    output_field=IntegerField(),
)
STATUS_RANK = Case(
    *(When(status=value, then=Value(rank)) for rank, value in enumerate(choices.FindingStatus.values)),
    output_field=IntegerField(),
)


def trend_url(system, benchmark: str = "", model_version: str = "") -> str:
    query = urlencode({"system": system.slug, "benchmark": benchmark, "model_version": model_version})
    return f"{reverse('admin:incidents_evaluationrun_trend')}?{query}"


# --- Evaluation runs ------------------------------------------------------------------------------


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    """Read-only: runs are posted through the API and never changed."""

    list_display = [
        "posted",
        "system",
        "model_label",
        "benchmark",
        "rate",
        "n",
        "limit",
        "incident_link",
        "trend",
    ]
    list_display_links = ["posted"]
    list_filter = [
        "exceeded_limit",
        "benchmark_name",
        "task_kind",
        "judge_kind",
        "rate_basis",
        ("system", admin.RelatedOnlyFieldListFilter),
        ("team", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["system", "incident"]
    search_fields = ["system__name", "system__slug", "model_name", "model_version", "benchmark_name"]
    date_hierarchy = "created_at"
    list_per_page = 50
    fieldsets = [
        (
            None,
            {"fields": ["system", "team", "model", "model_provider", "model_name", "model_version"]},
        ),
        (
            "Benchmark and judge",
            {
                "fields": [
                    "benchmark_name",
                    "benchmark_version",
                    "dataset_sha256",
                    "task_kind",
                    "judge_kind",
                    "judge_name",
                    "judge_version",
                ]
            },
        ),
        (
            "Counts",
            {
                "fields": [
                    "samples",
                    "attempted",
                    "abstained",
                    "correct",
                    "hallucinated",
                    "claims",
                    "hallucinated_claims",
                    "sample_panel",
                ]
            },
        ),
        (
            "Rate and limit",
            {
                "fields": [
                    "rate_basis",
                    "rate_panel",
                    "interval_method",
                    "limit_panel",
                    "incident_link",
                    "findings_link",
                    "trend_link",
                ]
            },
        ),
        (
            "Provenance",
            {
                "fields": [
                    "parameters",
                    "code_commit",
                    "started_at",
                    "finished_at",
                    "artifact_uri",
                    "artifact_sha256",
                    "reporter",
                    "created_at",
                ],
                "classes": ["collapse"],
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_readonly_fields(self, request, obj=None):
        return [field for _, options in self.fieldsets for field in options["fields"]]

    def has_add_permission(self, request):
        return False  # posted through the API (POST /api/v1/evaluation-runs/)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="posted", ordering="created_at")
    def posted(self, run):
        return timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="model", ordering="model_version")
    def model_label(self, run):
        return f"{run.model_name} {run.model_version}"

    @admin.display(description="benchmark", ordering="benchmark_name")
    def benchmark(self, run):
        return f"{run.benchmark_name} {run.benchmark_version}".strip()

    @admin.display(description="rate (95 % interval)", ordering="hallucination_rate")
    def rate(self, run):
        return rate_with_interval(run.hallucination_rate, run.interval_low, run.interval_high)

    @admin.display(description="n", ordering="rate_denominator")
    def n(self, run):
        return run.rate_denominator

    @admin.display(description="limit", ordering="exceeded_limit")
    def limit(self, run):
        if run.limit_rate is None:
            return "—"
        if run.exceeded_limit:
            return format_html(
                '<strong class="run-exceeded" style="color:{}">exceeded {}</strong>',
                EXCEEDED_COLOUR,
                percent(run.limit_rate),
            )
        return format_html('<span class="run-within">within {}</span>', percent(run.limit_rate))

    @admin.display(description="incident")
    def incident_link(self, run):
        if run.incident_id is None:
            return "—"
        url = reverse("admin:incidents_incident_change", args=[run.incident_id])
        return format_html('<a href="{}">{}</a>', url, run.incident.reference)

    @admin.display(description="")
    def trend(self, run):
        return format_html('<a href="{}">Trend</a>', trend_url(run.system, run.benchmark_name))

    @admin.display(description="trend")
    def trend_link(self, run):
        return format_html(
            '<a href="{}">{} on {}, every model version</a>',
            trend_url(run.system, run.benchmark_name),
            run.system,
            run.benchmark_name,
        )

    @admin.display(description="hallucination rate")
    def rate_panel(self, run):
        if run.hallucination_rate is None:
            return f"No rate: the basis ({run.get_rate_basis_display().lower()}) is empty."
        return format_html(
            "<strong>{}</strong> — {} of {} ({}), 95 % interval by the {} method",
            rate_with_interval(run.hallucination_rate, run.interval_low, run.interval_high),
            run.rate_numerator,
            run.rate_denominator,
            run.get_rate_basis_display().lower(),
            run.get_interval_method_display().removesuffix(" (95 %)"),
        )

    @admin.display(description="limit")
    def limit_panel(self, run):
        if run.limit_rate is None:
            return "No limit set for this system and benchmark when the run was posted."
        return format_html("{} — the limit was {}", self.limit(run), percent(run.limit_rate))

    @admin.display(description="per-sample results")
    def sample_panel(self, run):
        if not run.has_samples:
            return "Posted with counts only."
        grades = dict(run.sample_results.values_list("grade").annotate(count=Count("id")).order_by())
        return format_html_join(
            ", ", "{}: {}", ((label, grades.get(value, 0)) for value, label in choices.SampleGrade.choices)
        )

    @admin.display(description="findings")
    def findings_link(self, run):
        count = run.findings.count()
        if not count:
            return "—"
        url = reverse("admin:incidents_hallucinationfinding_changelist") + f"?run__id__exact={run.pk}"
        return format_html('<a href="{}">{} finding(s)</a>', url, count)

    def get_urls(self):
        own = [
            path(
                "trend/",
                self.admin_site.admin_view(self.trend_view),
                name="incidents_evaluationrun_trend",
            )
        ]
        return own + super().get_urls()

    def trend_view(self, request):
        """A system's rates over time with their intervals and limits, and two versions compared."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Hallucination rate trend",
            **trend_context(request.user, request.GET),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/incidents/evaluationrun/trend.html", context)


# --- Hallucination findings -----------------------------------------------------------------------


class FindingStatusForm(ServiceForm):
    """Only the status (and, for a duplicate, the original) can change, through the service."""

    class Meta:
        model = HallucinationFinding
        fields = ["status", "duplicate_of"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "duplicate_of" in self.fields:
            self.fields["duplicate_of"].queryset = (
                HallucinationFinding.objects.visible_to(self.actor)
                .filter(system_id=self.instance.system_id)
                .exclude(pk=self.instance.pk)
            )
            self.fields["duplicate_of"].help_text = 'The original finding, for the status "Duplicate".'

    def decide(self, data):
        if "status" not in self.changed_data and "duplicate_of" not in self.changed_data:
            return self.instance
        return services.update_finding_status(
            actor=self.actor,
            finding=self.instance,
            status=data["status"],
            duplicate_of=data.get("duplicate_of"),
        )


class DuplicateOfForm(forms.Form):
    duplicate_of = forms.ModelChoiceField(queryset=HallucinationFinding.objects.none(), label="Original")


@admin.register(HallucinationFinding)
class HallucinationFindingAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    list_display = ["claim_excerpt", "system", "model_label", "subtype", "severity", "status", "created_at"]
    list_filter = [
        "status",
        "severity",
        "subtype",
        "kind",
        "grade",
        "benchmark_name",
        ("system", admin.RelatedOnlyFieldListFilter),
        ("team", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["system"]
    search_fields = ["claim", "response_excerpt", "sample_id", "model_name", "model_version", "system__name"]
    list_per_page = 50
    actions = ["confirm", "false_positive", "risk_accepted", "fixed", "mark_duplicate"]
    record = ["run_link", "team", "dedupe_hash", "reporter", "created_at", "updated_at"]
    summary = [
        "system",
        "model_name",
        "model_version",
        "benchmark_name",
        "sample_id",
        "kind",
        "subtype",
        "grade",
        "severity",
    ]
    content = ["claim", "response_excerpt", "reference", "prompt_display", "detector"]

    def get_queryset(self, request):
        # "New first": the triage order is status (new, confirmed, …), then severity, then newest.
        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .annotate(status_rank=STATUS_RANK, severity_rank=SEVERITY_RANK)
            .order_by("status_rank", "severity_rank", "-created_at", "-id")
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = type("FindingStatusForm", (FindingStatusForm,), {"actor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": self.summary}),
            ("What was said", {"fields": self.content}),
            ("Triage", {"fields": ["status", "duplicate_of"]}),
            ("Record", {"fields": self.record, "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*self.summary, *self.content, *self.record]

    def has_add_permission(self, request):
        return False  # posted through the API (POST /api/v1/hallucination-findings/)

    def has_delete_permission(self, request, obj=None):
        return False  # triaged as a false positive, never deleted

    def save_model(self, request, obj, form, change):
        pass  # the service changed the status when the form was validated

    def save_related(self, request, form, formsets, change):
        pass

    @admin.display(description="claim", ordering="claim")
    def claim_excerpt(self, finding):
        return Truncator(finding.claim).chars(90)

    @admin.display(description="model", ordering="model_version")
    def model_label(self, finding):
        return f"{finding.model_name} {finding.model_version}"

    @admin.display(description="prompt")
    def prompt_display(self, finding):
        if finding.prompt:
            return finding.prompt
        if finding.prompt_sha256:
            return format_html(
                'Not stored (sensitive). SHA-256: <code class="prompt-hash">{}</code>', finding.prompt_sha256
            )
        return "—"

    @admin.display(description="detector")
    def detector(self, finding):
        if finding.detector_score is None:
            return "—"
        threshold = (
            "" if finding.detector_threshold is None else f" (threshold {finding.detector_threshold:g})"
        )
        return f"score {finding.detector_score:g}{threshold}"

    @admin.display(description="run")
    def run_link(self, finding):
        if finding.run_id is None:
            return "—"
        url = reverse("admin:incidents_evaluationrun_change", args=[finding.run_id])
        return format_html('<a href="{}">{}</a>', url, finding.run)

    def _set_status(self, request, queryset, status, duplicate_of=None) -> int:
        changed = 0
        for finding in queryset:
            try:
                services.update_finding_status(
                    actor=request.user, finding=finding, status=status, duplicate_of=duplicate_of
                )
                changed += 1
            except ValidationError as exc:
                self.message_user(request, f"#{finding.pk}: {' '.join(exc.messages)}", messages.ERROR)
            except (Conflict, NotAllowed) as exc:
                self.message_user(request, f"#{finding.pk}: {exc}", messages.ERROR)
        if changed:
            label = choices.FindingStatus(status).label.lower()
            self.message_user(request, f"{changed} finding(s) marked {label}.", messages.SUCCESS)
        return changed

    @admin.action(description="Confirm", permissions=["change"])
    def confirm(self, request, queryset):
        self._set_status(request, queryset, choices.FindingStatus.CONFIRMED)

    @admin.action(description="Mark as false positive", permissions=["change"])
    def false_positive(self, request, queryset):
        self._set_status(request, queryset, choices.FindingStatus.FALSE_POSITIVE)

    def has_accept_risk_permission(self, request):
        return self.has_change_permission(request) and is_officer(request.user)

    @admin.action(description="Accept the risk (officers)", permissions=["accept_risk"])
    def risk_accepted(self, request, queryset):
        self._set_status(request, queryset, choices.FindingStatus.RISK_ACCEPTED)

    @admin.action(description="Mark fixed", permissions=["change"])
    def fixed(self, request, queryset):
        self._set_status(request, queryset, choices.FindingStatus.FIXED)

    @admin.action(description="Mark as a duplicate of …", permissions=["change"])
    def mark_duplicate(self, request, queryset):
        """Asks for the original first (a page of its own), then marks each selected finding."""
        selected = list(queryset)
        originals = (
            HallucinationFinding.objects.visible_to(request.user)
            .filter(system_id__in={finding.system_id for finding in selected})
            .exclude(pk__in=[finding.pk for finding in selected])
            .exclude(status=choices.FindingStatus.DUPLICATE)
            .select_related("system")
            .order_by("-created_at", "-id")
        )
        form = DuplicateOfForm(request.POST if "apply" in request.POST else None)
        form.fields["duplicate_of"].queryset = originals
        if form.is_valid():
            self._set_status(
                request,
                selected,
                choices.FindingStatus.DUPLICATE,
                duplicate_of=form.cleaned_data["duplicate_of"],
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Mark as a duplicate",
            "findings": selected,
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/incidents/hallucinationfinding/mark_duplicate.html", context)


# --- Hallucination limits -------------------------------------------------------------------------


class LimitForm(ServiceForm):
    class Meta:
        model = HallucinationLimit
        fields = ["system", "benchmark_name", "max_rate", "judged_on"]
        help_texts = {
            "max_rate": "A share between 0 and 1: 0.05 is 5 %.",
            "benchmark_name": "Empty: the limit applies to every benchmark without a limit of its own.",
        }

    def decide(self, data):
        # set_limit keeps one limit per system and benchmark, replacing the one there: the form
        # goes on with the row it wrote, so the model's own checks see that row, not a second one.
        self.instance = services.set_limit(
            actor=self.actor,
            system=data.get("system") or self.instance.system,
            benchmark_name=data.get("benchmark_name", self.instance.benchmark_name) or "",
            max_rate=data["max_rate"],
            judged_on=data["judged_on"],
        )
        return self.instance


@admin.register(HallucinationLimit)
class HallucinationLimitAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    """Officers set limits (through ``set_limit``); engineers and auditors read them."""

    list_display = ["system", "benchmark", "max_rate_percent", "judged_on", "updated_at", "trend"]
    list_filter = ["judged_on", ("system__owning_team", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["system"]
    search_fields = ["system__name", "system__slug", "benchmark_name"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = type("LimitForm", (LimitForm,), {"actor": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # A limit belongs to its system and benchmark: to move it, set a new one.
        record = ["created_at", "updated_at"]
        return ["system", "benchmark_name", *record] if obj is not None else record

    def get_fields(self, request, obj=None):
        fields = ["system", "benchmark_name", "max_rate", "judged_on"]
        return [*fields, "created_at", "updated_at"] if obj is not None else fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "system":
            kwargs["queryset"] = AISystem.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def delete_model(self, request, obj):
        services.delete_limit(actor=request.user, limit=obj)

    def delete_queryset(self, request, queryset):
        for limit in queryset:
            services.delete_limit(actor=request.user, limit=limit)

    def save_model(self, request, obj, form, change):
        obj.pk = form.result.pk  # set_limit wrote it when the form was validated

    def save_related(self, request, form, formsets, change):
        pass

    @admin.display(description="benchmark", ordering="benchmark_name")
    def benchmark(self, limit):
        return limit.benchmark_name or "any benchmark"

    @admin.display(description="at most", ordering="max_rate")
    def max_rate_percent(self, limit):
        return percent(limit.max_rate)

    @admin.display(description="")
    def trend(self, limit):
        return format_html('<a href="{}">Trend</a>', trend_url(limit.system, limit.benchmark_name))
