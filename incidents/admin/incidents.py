"""The incident register in the admin: a triage queue, the incident page with its timeline,
corrective actions and an Art. 73 panel. Every write goes through the incident services."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from governance.admin.base import ChangeHistoryMixin, add_service_errors
from governance.exceptions import Conflict
from incidents import choices
from incidents.clock_rules import BREACHED_STEP_STATES, RESOLVE, RESPOND, active_q
from incidents.models import CorrectiveAction, Incident, TimelineEntry
from incidents.services import corrective, incidents, lifecycle

ReportState = choices.ReportState
StepState = choices.SlaStepState
LATE_COLOUR, SOON_COLOUR, FINE_COLOUR = "#cf222e", "#9a6700", "#1a7f37"
SEVERITY_RANK = Case(
    *(When(severity=level.value, then=Value(rank)) for rank, level in enumerate(choices.Severity)),
    output_field=IntegerField(),
)


class OpenFilter(admin.SimpleListFilter):
    """The triage queue shows active incidents (their SLA clocks run) unless asked otherwise."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("all", "All")]

    def queryset(self, request, queryset):
        return queryset if self.value() == "all" else queryset.filter(active_q())

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "open") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    extra = 0
    can_delete = False
    fields = ["at", "kind", "author_label", "body", "data"]
    readonly_fields = fields
    ordering = ["-at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False  # comments and changes are added through the services


class CorrectiveActionInline(admin.TabularInline):
    model = CorrectiveAction
    extra = 0
    can_delete = False
    fields = [*corrective.EDITABLE_FIELDS, "verified_by", "verified_at"]
    readonly_fields = ["verified_by", "verified_at"]
    autocomplete_fields = ["owner"]


class IncidentForm(forms.ModelForm):
    """Runs the service's own checks while the form can still show them."""

    class Meta:
        model = Incident
        fields = ["system", "occurred_at", "detected_at", "became_aware_at", *incidents.UPDATABLE_FIELDS]

    def clean(self):
        data = super().clean()
        times = {
            name: data.get(name)
            for name in ("occurred_at", "detected_at", "became_aware_at")
            if name in self.fields
        }
        try:
            incidents.refuse_future(timezone.now(), **times)
            system = data.get("system") or getattr(self.instance, "system", None)
            if data.get("model") and system is not None:
                incidents.require_model_of_system(data["model"], system)
        except ValidationError as exc:
            add_service_errors(self, exc)
        return data


@admin.register(Incident)
class IncidentAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    form = IncidentForm
    list_display = ["reference", "title", "system", "severity", "status", "age", "art73", "sla"]
    list_filter = [OpenFilter, "severity", "status", "is_serious", "team", "harm_level"]
    search_fields = ["reference", "title", "description", "external_id"]
    list_select_related = ["system"]
    inlines = [CorrectiveActionInline, TimelineInline]
    actions = ["triage", "start_investigating", "mark_mitigated", "mark_resolved", "close"]
    readonly_fields = [
        "reference",
        "status",
        "team",
        "source",
        "external_id",
        "reporter",
        "respond_by",
        "resolve_by",
        "responded_at",
        "resolved_at",
        "art73_panel",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["reference", "status", "system", "model", "title", "description", "severity"]}),
        ("When", {"fields": ["occurred_at", "detected_at", "became_aware_at"]}),
        ("Classification", {"fields": list(incidents.CLASSIFICATION_FIELDS)}),
        ("EU AI Act Art. 73", {"fields": ["art73_panel"]}),
        ("Service levels", {"fields": ["respond_by", "responded_at", "resolve_by", "resolved_at"]}),
        (
            "Record",
            {
                "fields": ["team", "source", "external_id", "reporter", "created_at", "updated_at"],
                "classes": ["collapse"],
            },
        ),
    ]

    def get_queryset(self, request):
        # Triage order: most severe first, then oldest; the columns read the clock states.
        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .with_clocks(timezone.now())
            .annotate(severity_rank=SEVERITY_RANK)
            .order_by("severity_rank", "created_at")
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["art73_panel"]
        return [*self.readonly_fields, "system", "occurred_at", "detected_at", "became_aware_at"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    None,
                    {
                        "fields": [
                            "system",
                            "model",
                            "title",
                            "description",
                            "severity",
                            "occurred_at",
                            "detected_at",
                            "became_aware_at",
                        ]
                    },
                )
            ]
        return self.fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="age")
    def age(self, incident):
        days = (timezone.now() - incident.created_at).days
        return f"{days} d" if days else "today"

    @admin.display(description="Art. 73")
    def art73(self, incident):
        return _report_badge(incident)

    @admin.display(description="SLA")
    def sla(self, incident):
        return sla_text(incident)

    @admin.display(description="reporting to the authority")
    def art73_panel(self, incident):
        if incident is None or not incident.is_serious:
            return (
                "Not flagged as a serious incident (officers flag it through the API: POST …/serious/ adds "
                "grounds, PUT …/serious/ sets them)."
            )
        grounds = format_html_join(
            "",
            "<li>{}</li>",
            ((choices.SeriousIncidentGround(ground).label,) for ground in incident.serious_grounds),
        )
        return format_html(
            "<p>Grounds:</p><ul>{}</ul><p>{}</p><p>Report due: <strong>{}</strong> UTC ({}) — {}</p>"
            "<p>Initial report sent: {} · complete report sent: {} · authority reference: {}</p>",
            grounds,
            "Widespread infringement (Art. 3(61))" if incident.widespread_infringement else "Not widespread",
            incident.report_due_at.strftime("%Y-%m-%d %H:%M") if incident.report_due_at else "—",
            incident.report_due_rule or "—",
            _report_badge(incident),
            incident.initial_report_sent_at or "—",
            incident.complete_report_sent_at or "—",
            incident.authority_reference or "—",
        )

    def save_model(self, request, obj, form, change):
        if change:
            changes = {
                name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data
            }
            incidents.update_incident(actor=request.user, incident=obj, changes=changes)
        else:
            data = {name: form.cleaned_data.get(name) for name in form.fields}
            created, _ = incidents.create_incident(
                actor=request.user, data={**data, "source": choices.IncidentSource.ADMIN}
            )
            obj.pk, obj.reference = created.pk, created.reference

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "system":
            from governance.models import AISystem

            kwargs["queryset"] = AISystem.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_formset(self, request, form, formset, change):
        if formset.model is not CorrectiveAction:
            return super().save_formset(request, form, formset, change)
        for inline_form in formset.forms:
            if not inline_form.has_changed():
                continue
            values = {name: inline_form.cleaned_data.get(name) for name in corrective.EDITABLE_FIELDS}
            if inline_form.instance.pk:
                corrective.update_corrective_action(
                    actor=request.user, action=inline_form.instance, changes=values
                )
            else:
                corrective.add_corrective_action(actor=request.user, incident=form.instance, data=values)

    def _transition(self, request, queryset, to):
        moved = 0
        for incident in queryset:
            try:
                lifecycle.transition(actor=request.user, incident=incident, to=to)
                moved += 1
            except (Conflict, ValidationError) as exc:
                self.message_user(request, f"{incident.reference}: {exc}", messages.ERROR)
        if moved:
            self.message_user(request, f"{moved} incident(s) moved to {to}.", messages.SUCCESS)

    @admin.action(description="Triage")
    def triage(self, request, queryset):
        self._transition(request, queryset, choices.IncidentStatus.TRIAGED)

    @admin.action(description="Start investigating")
    def start_investigating(self, request, queryset):
        self._transition(request, queryset, choices.IncidentStatus.INVESTIGATING)

    @admin.action(description="Mark mitigated")
    def mark_mitigated(self, request, queryset):
        self._transition(request, queryset, choices.IncidentStatus.MITIGATED)

    @admin.action(description="Mark resolved")
    def mark_resolved(self, request, queryset):
        self._transition(request, queryset, choices.IncidentStatus.RESOLVED)

    @admin.action(description="Close (needs every corrective action verified or cancelled)")
    def close(self, request, queryset):
        self._transition(request, queryset, choices.IncidentStatus.CLOSED)


_STEP_TEXT = {
    (RESPOND.name, StepState.OVERDUE): "respond overdue",
    (RESPOND.name, StepState.LATE): "responded late",
    (RESOLVE.name, StepState.OVERDUE): "resolve overdue",
    (RESOLVE.name, StepState.LATE): "resolved late",
}


def sla_text(incident) -> str:
    """The SLA column: the breached steps ("responded late & resolve overdue"), else "on track"
    while a step is still running, else "on time"; "—" when neither step applies."""
    states = {RESPOND.name: incident.respond_state, RESOLVE.name: incident.resolve_state}
    breached = [_STEP_TEXT[name, state] for name, state in states.items() if state in BREACHED_STEP_STATES]
    if breached:
        return format_html('<strong style="color:{}">{}</strong>', LATE_COLOUR, " & ".join(breached))
    if StepState.ON_TRACK in states.values():
        return "on track"
    if StepState.ON_TIME in states.values():
        return "on time"
    return "—"


def _report_badge(incident) -> str:
    """The Art. 73 column and panel: the report state, with the time left or overdue while the
    initial report is pending. Its class names the state (``art73-<report_state>``)."""
    state = ReportState(incident.report_state)
    if state == ReportState.NOT_SERIOUS:
        return "—"
    colour = {
        ReportState.OVERDUE: LATE_COLOUR,
        ReportState.REPORTED_LATE: LATE_COLOUR,
        ReportState.DUE_SOON: SOON_COLOUR,
    }.get(state, FINE_COLOUR)
    text = state.label
    if state in (ReportState.OVERDUE, ReportState.DUE_SOON, ReportState.ON_TRACK):
        left = incident.report_due_at - timezone.now()
        text = f"{_duration(abs(left))} {'overdue' if state == ReportState.OVERDUE else 'left'}"
    return format_html('<strong class="art73-{}" style="color:{}">{}</strong>', state.value, colour, text)


def _duration(period: timedelta) -> str:
    """``2 d 5 h``, ``5 h 20 min`` or ``20 min``: the two largest units, never a bare zero."""
    minutes = int(period.total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
