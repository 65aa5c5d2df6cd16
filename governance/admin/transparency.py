"""Transparency scoring in the admin.

Indicator sets and their indicators are catalog data (``manage.py load_catalogs``): read-only here,
with their source, licence and attribution shown. An assessment's page asks every indicator in a
fieldset per domain (answer, disclosure, evidence link, justification); "Save answers" and
"Finalize" go through ``governance.services.transparency``, whose refusals show on the form next
to the indicators they name. A final assessment is read-only, with its breakdown and the change
from the previous one. Two pages of their own: the ranking of systems by score, and a system's
score history as a server-side SVG chart.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from governance import choices
from governance.admin import transparency_pages as pages
from governance.admin.base import ChangeHistoryMixin, ReadOnlyAdmin
from governance.admin.transparency_pages import SCORE_RANGES, history_url, score_range, score_text
from governance.exceptions import Conflict, NotAllowed
from governance.models import AIModel, AISystem, Indicator, IndicatorSet, TransparencyAssessment
from governance.services import transparency as services
from governance.services.transparency import ANSWER_FIELDS

DECISIONS = {"_finalize": "finalize", "_save": "save", "_continue": "save"}
CHANGE_LABELS = {"new": "new", "gained": "▲ gained", "lost": "▼ lost", "same": "="}


def field_name(field: str, key: str) -> str:
    return f"{field}__{key}"


# --- Indicator sets (catalog data) -----------------------------------------------------------------


class IndicatorInline(admin.TabularInline):
    model = Indicator
    fields = ["order", "domain", "subdomain", "name", "weight"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IndicatorSet)
class IndicatorSetAdmin(ReadOnlyAdmin):
    list_display = ["name", "version", "key", "subject_kind", "publisher", "licence", "indicator_count"]
    list_filter = ["subject_kind", "publisher"]
    search_fields = ["key", "name", "publisher"]
    fieldsets = [
        (None, {"fields": ["key", "name", "version", "subject_kind", "scoring_rule", "domain_list"]}),
        ("Source", {"fields": ["publisher", "licence", "source_url", "attribution_text"]}),
    ]
    readonly_fields = [
        "key",
        "name",
        "version",
        "subject_kind",
        "scoring_rule",
        "domain_list",
        "publisher",
        "licence",
        "source_url",
        "attribution_text",
    ]
    inlines = [IndicatorInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .annotate(indicators_total=Count("indicators"))
        )

    @admin.display(description="indicators", ordering="indicators_total")
    def indicator_count(self, indicator_set):
        return indicator_set.indicators_total

    @admin.display(description="attribution")
    def attribution_text(self, indicator_set):
        return format_html('<p class="attribution">{}</p>', indicator_set.attribution or "—")

    @admin.display(description="domains")
    def domain_list(self, indicator_set):
        domains = indicator_set.domains or []
        names = [d.get("name") or d.get("domain") if isinstance(d, dict) else str(d) for d in domains]
        return ", ".join(name for name in names if name) or "—"


@admin.register(Indicator)
class IndicatorAdmin(ReadOnlyAdmin):
    list_display = ["name", "indicator_set", "domain", "subdomain", "weight", "order"]
    list_filter = ["indicator_set", "domain"]
    list_select_related = ["indicator_set"]
    search_fields = ["key", "name", "definition"]
    fields = [
        "indicator_set",
        "key",
        "domain",
        "subdomain",
        "name",
        "definition",
        "notes",
        "rationale",
        "weight",
        "order",
        "attribution",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="source")
    def attribution(self, indicator):
        s = indicator.indicator_set
        return format_html(
            '<p class="attribution">{} — {} ({}). {}</p>',
            s.publisher,
            s.licence,
            s.source_url or "",
            s.attribution,
        )


# --- Assessments -----------------------------------------------------------------------------------


class ScoreRangeFilter(admin.SimpleListFilter):
    title = "score"
    parameter_name = "score"

    def lookups(self, request, model_admin):
        return [
            *((key, f"{low}–{high} %") for key, (low, high) in SCORE_RANGES.items()),
            ("none", "No score"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(score__isnull=True)
        bounds = score_range(self.value())
        if bounds is None:
            return queryset
        low, high = bounds
        ranged = queryset.filter(score__gte=low)
        return ranged.filter(score__lte=high) if high == 100 else ranged.filter(score__lt=high)


class StartAssessmentForm(forms.ModelForm):
    """Start a draft: the set, the subject that suits it, the day. The service makes it."""

    actor = None
    started: TransparencyAssessment | None = None

    class Meta:
        model = TransparencyAssessment
        fields = ["indicator_set", "system", "model", "assessed_on"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.actor is not None:
            self.fields["indicator_set"].queryset = IndicatorSet.objects.visible_to(self.actor)
            self.fields["system"].queryset = AISystem.objects.visible_to(self.actor).order_by("name")
            self.fields["model"].queryset = AIModel.objects.visible_to(self.actor)
        self.fields["assessed_on"].required = False
        self.fields["assessed_on"].help_text = "Defaults to today."

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.started = services.start_assessment(
                actor=self.actor,
                indicator_set=data["indicator_set"],
                system=data.get("system"),
                model=data.get("model"),
                assessed_on=data.get("assessed_on"),
            )
        except ValidationError as exc:
            show(self, exc)
        except (Conflict, NotAllowed) as exc:
            self.add_error(None, str(exc))
        return data

    def _post_clean(self):
        pass  # the service validated and saved the assessment


class AnswersForm(forms.ModelForm):
    """Four fields per indicator (added per assessment); validating the form runs the decision
    ("save" or "finalize") through the services, so their refusals show on the form."""

    actor = None
    decision: str | None = None
    keys: list[str] = []

    class Meta:
        model = TransparencyAssessment
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for row in self.instance.answers.select_related("indicator"):
                for field in ANSWER_FIELDS:
                    name = field_name(field, row.indicator.key)
                    if name in self.fields:
                        self.fields[name].initial = getattr(row, field)

    def changed_answers(self) -> dict[str, dict[str, str]]:
        changed = set(self.changed_data)
        return {
            key: {field: self.cleaned_data.get(field_name(field, key)) or "" for field in ANSWER_FIELDS}
            for key in self.keys
            if any(field_name(field, key) in changed for field in ANSWER_FIELDS)
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            answers = self.changed_answers()
            if answers:
                services.answer(actor=self.actor, assessment=self.instance, answers=answers)
            if self.decision == "finalize":
                services.finalize(actor=self.actor, assessment=self.instance)
        except ValidationError as exc:
            show(self, exc, keys=self.keys)
        except (Conflict, NotAllowed) as exc:
            self.add_error(None, str(exc))
        return data


def show(form: forms.Form, exc: ValidationError, keys: list[str] = ()) -> None:
    """A service's refusal on the form: a message naming indicators goes next to each of them."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, texts in exc.message_dict.items():
        if field in form.fields:
            form.add_error(field, texts)
            continue
        for message in texts:
            head, _, rest = message.partition(": ")
            named = [token.strip(" .") for token in rest.split(",")]
            if head in keys:
                form.add_error(field_name("answer", head), rest)
            elif rest and all(token in keys for token in named):
                form.add_error(None, message)
                for key in named:
                    form.add_error(field_name("answer", key), f"{head}.")
            else:
                form.add_error(None, message)


def answers_form_for(assessment: TransparencyAssessment) -> tuple[type[AnswersForm], list[tuple[str, list]]]:
    """The answers form for this assessment, and its fieldsets: one per domain, one line per indicator."""
    fields: dict[str, forms.Field] = {}
    domains: dict[str, list] = {}
    keys = []
    rows = assessment.answers.select_related("indicator").order_by("indicator__order")
    for row in rows:
        indicator = row.indicator
        keys.append(indicator.key)
        fields[field_name("answer", indicator.key)] = forms.ChoiceField(
            label=f"{indicator.subdomain} · {indicator.name}",
            choices=choices.IndicatorAnswer.choices,
            help_text=indicator.definition,
        )
        fields[field_name("disclosure", indicator.key)] = forms.CharField(
            label="Disclosure", required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 36})
        )
        fields[field_name("evidence_url", indicator.key)] = forms.URLField(
            label="Evidence link", required=False, max_length=1000, assume_scheme="https"
        )
        fields[field_name("justification", indicator.key)] = forms.CharField(
            label="Justification",
            required=False,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 36}),
            help_text="Required for 'not applicable' to finalize.",
        )
        names = tuple(field_name(field, indicator.key) for field in ANSWER_FIELDS)
        domains.setdefault(indicator.domain, []).append(names)
    form = type("AnswersForm", (AnswersForm,), {**fields, "keys": keys})
    return form, list(domains.items())


@admin.register(TransparencyAssessment)
class TransparencyAssessmentAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    list_display = ["subject", "indicator_set", "assessed_on", "status", "score_display", "source"]
    list_filter = [ScoreRangeFilter, "status", "indicator_set", "source"]
    list_select_related = ["indicator_set", "system", "model"]
    search_fields = ["system__name", "system__slug", "model__name", "model__provider"]
    ordering = ["-assessed_on", "-id"]
    list_per_page = 50
    summary = ["subject", "indicator_set", "assessed_on", "status", "assessor", "score_display"]
    change_list_template = "admin/governance/transparencyassessment/change_list.html"
    change_form_template = "admin/governance/transparencyassessment/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .select_related("indicator_set", "system", "model")
        )

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status == choices.AssessmentStatus.DRAFT)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == choices.AssessmentStatus.DRAFT)

    def _editable(self, request, obj) -> bool:
        return obj is not None and self.has_change_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            base = type("StartAssessmentForm", (StartAssessmentForm,), {"actor": request.user})
            kwargs["form"] = base
            kwargs["fields"] = StartAssessmentForm.Meta.fields
            return super().get_form(request, obj, change=change, **kwargs)
        kwargs["form"] = answers_form_for(obj)[0]
        kwargs["fields"] = []
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        form.decision = next((name for button, name in DECISIONS.items() if button in request.POST), "save")
        return form

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": StartAssessmentForm.Meta.fields})]
        summary = (None, {"fields": self.summary})
        breakdown = ("Score breakdown", {"fields": ["breakdown_panel"]})
        if not self._editable(request, obj):
            return [summary, ("Answers", {"fields": ["answers_panel"]}), breakdown]
        domains = answers_form_for(obj)[1]
        return [
            summary,
            *((domain, {"fields": lines, "classes": ["transparency-domain"]}) for domain, lines in domains),
            breakdown,
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [*self.summary, "answers_panel", "breakdown_panel"]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["editable"] = self._editable(request, obj)
        if obj is not None:
            # The answers may have been saved by this very request (a refused "Finalize").
            obj.refresh_from_db(fields=["points", "possible_points", "score"])
        if obj is not None and obj.system_id:
            context["history_url"] = history_url(obj.system)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_form(self, request, form, change):
        if not change:
            return form.started
        return form.instance

    def save_model(self, request, obj, form, change):
        pass  # the services saved the assessment when the form was validated

    def save_related(self, request, form, formsets, change):
        pass

    def construct_change_message(self, request, form, formsets, add=False):
        if add:
            return [{"added": {}}]
        return [{"changed": {"fields": [f"decision: {form.decision}"]}}]

    def response_add(self, request, obj, post_url_continue=None):
        if "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(request, f"Started {obj}. Answer its indicators below.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:governance_transparencyassessment_change", args=[obj.pk]))

    def response_change(self, request, obj):
        if "_finalize" in request.POST:
            obj.refresh_from_db()
            self.message_user(request, f"Finalized {obj}: score {score_text(obj.score)}.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # --- Columns and panels ---

    @admin.display(description="subject")
    def subject(self, assessment):
        return assessment.system or assessment.model

    @admin.display(description="score", ordering="score")
    def score_display(self, assessment):
        if assessment.score is None:
            return "—"
        return format_html(
            '<span class="assessment-score" data-score="{}">{} ({} of {} points)</span>',
            assessment.score,
            score_text(assessment.score),
            assessment.points,
            assessment.possible_points,
        )

    @admin.display(description="answers by domain")
    def answers_panel(self, assessment):
        rows = assessment.answers.select_related("indicator").order_by("indicator__order")
        domains: dict[str, list] = {}
        for row in rows:
            domains.setdefault(row.indicator.domain, []).append(row)
        return format_html_join(
            "",
            '<h3 class="answers-domain">{}</h3><table class="answers"><tbody>{}</tbody></table>',
            (
                (
                    domain,
                    format_html_join(
                        "",
                        '<tr data-indicator="{}"><td>{} · {}</td><td>{}</td><td>{}</td><td>{}</td>'
                        "<td>{}</td></tr>",
                        (
                            (
                                row.indicator.key,
                                row.indicator.subdomain,
                                row.indicator.name,
                                row.get_answer_display(),
                                row.disclosure or "—",
                                evidence_link(row.evidence_url),
                                row.justification or "",
                            )
                            for row in items
                        ),
                    ),
                )
                for domain, items in domains.items()
            ),
        )

    @admin.display(description="breakdown")
    def breakdown_panel(self, assessment):
        result = services.breakdown(assessment)
        total = result["total"]
        previous = result.get("previous_assessment")
        domain_rows = []
        for domain in result["domains"]:
            domain_rows.append(("domain", domain["domain"], *_figures(domain)))
            domain_rows.extend(
                ("subdomain", f"— {sub['subdomain']}", *_figures(sub)) for sub in domain["subdomains"]
            )
        changes = [i for i in result["indicators"] if i["change"] in ("gained", "lost")]
        return format_html(
            '<table id="breakdown"><thead><tr><th></th><th>Points</th><th>Possible</th><th>Score</th></tr>'
            '</thead><tbody><tr class="total"><th>Total</th><td>{}</td><td>{}</td><td>{}</td></tr>{}</tbody>'
            '</table><p id="previous">{}</p>{}',
            *_figures(total),
            format_html_join(
                "",
                '<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
                domain_rows,
            ),
            (
                format_html(
                    "Compared with the final assessment of {}: {} gained, {} lost.",
                    previous["assessed_on"],
                    sum(1 for i in changes if i["change"] == "gained"),
                    sum(1 for i in changes if i["change"] == "lost"),
                )
                if previous
                else "No previous final assessment of this subject on this set."
            ),
            format_html(
                '<ul id="changes">{}</ul>',
                format_html_join(
                    "",
                    '<li class="change-{}" data-indicator="{}">{}: {}</li>',
                    ((i["change"], i["key"], i["name"], CHANGE_LABELS[i["change"]]) for i in changes),
                ),
            )
            if changes
            else "",
        )

    # --- Ranking and history pages ---

    def get_urls(self):
        return [
            path(
                "ranking/",
                self.admin_site.admin_view(self.ranking_view),
                name="governance_transparencyassessment_ranking",
            ),
            path(
                "history/",
                self.admin_site.admin_view(self.history_view_page),
                name="governance_transparencyassessment_history",
            ),
            *super().get_urls(),
        ]

    def _page(self, request, title: str, template: str, context: dict) -> TemplateResponse:
        if not self.has_view_or_change_permission(request):
            raise Http404
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )

    def ranking_view(self, request):
        return self._page(
            request,
            "AI systems ranked by transparency score",
            "admin/governance/transparencyassessment/ranking.html",
            pages.ranking_context(request.user, request.GET),
        )

    def history_view_page(self, request):
        return self._page(
            request,
            "Transparency score history",
            "admin/governance/transparencyassessment/history.html",
            pages.history_context(request.user, request.GET),
        )


def _figures(row: dict) -> tuple:
    return (row["points"], row["possible_points"], score_text(row["score"]))


def evidence_link(url: str):
    return format_html('<a href="{}" rel="noopener">evidence</a>', url) if url else "—"
