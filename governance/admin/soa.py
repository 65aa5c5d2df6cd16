"""Statement of Applicability in the admin: the current statement page, versions and decisions.

The statement page lives under the SoA versions admin (``…/soaversion/statement/``) and is linked
from its list. Everyone with a role reads it; officers decide applicability and approve there.
Every write goes through ``governance.services.soa``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from governance.admin.base import ChangeHistoryMixin, ReadOnlyAdmin, add_service_errors
from governance.choices import ImplementationStatus, RequirementKind
from governance.exceptions import NotAllowed
from governance.models import AISystem, Applicability, Framework, Requirement, SoAVersion
from governance.services import soa

DEFAULT_FRAMEWORK_CODE = "iso-iec-42001"
STATUS_LABELS = {**dict(ImplementationStatus.choices), soa.NO_CONTROL: "No control"}


class ScopeForm(forms.Form):
    """Which framework and scope the statement page shows (GET)."""

    framework = forms.ModelChoiceField(queryset=Framework.objects.none(), required=False, empty_label=None)
    system = forms.ModelChoiceField(
        queryset=AISystem.objects.none(), required=False, empty_label="Organisation-wide"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["framework"].queryset = Framework.objects.filter(
            pk__in=Requirement.objects.filter(kind=RequirementKind.CONTROL).values("framework_id")
        )
        self.fields["system"].queryset = AISystem.objects.visible_to(user).order_by("name")


class ApplicabilityRowForm(forms.Form):
    """One control's decision on the statement page."""

    ref_id = forms.CharField(widget=forms.HiddenInput)
    applicable = forms.BooleanField(required=False)
    justification = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 36}), max_length=5000
    )


class ApproveForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class ApplicabilityForm(forms.ModelForm):
    class Meta:
        model = Applicability
        fields = ["requirement", "system", "applicable", "justification"]
        help_texts = {"system": "Leave empty for the organisation-wide decision."}


@admin.register(Applicability)
class ApplicabilityAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    """Applicability decisions; officers edit them (here or on the statement page)."""

    form = ApplicabilityForm
    list_display = [
        "ref_id",
        "control_title",
        "framework",
        "scope",
        "applicable",
        "justification",
        "updated_at",
    ]
    list_filter = ["applicable", "requirement__framework"]
    search_fields = [
        "requirement__ref_id",
        "requirement__title",
        "justification",
        "system__name",
        "system__slug",
    ]
    list_select_related = ["requirement__framework", "system"]
    ordering = ["requirement__framework", "requirement__order", "system__name"]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def get_readonly_fields(self, request, obj=None):
        # A decision belongs to one control and scope; change those by adding another decision.
        return ["requirement", "system", "updated_at"] if obj else ["updated_at"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "requirement":
            kwargs["queryset"] = Requirement.objects.filter(kind=RequirementKind.CONTROL).select_related(
                "framework"
            )
        elif db_field.name == "system":
            kwargs["queryset"] = AISystem.objects.visible_to(request.user).order_by("name")
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "requirement":
            field.label_from_instance = lambda r: f"{r.framework.short_name} {r.ref_id} {r.title}"
        return field

    @admin.display(description="control", ordering="requirement__order")
    def ref_id(self, decision):
        return decision.requirement.ref_id

    @admin.display(description="title")
    def control_title(self, decision):
        return decision.requirement.title

    @admin.display(description="framework", ordering="requirement__framework")
    def framework(self, decision):
        return decision.requirement.framework.short_name

    @admin.display(description="scope", ordering="system__name")
    def scope(self, decision):
        return decision.system.name if decision.system_id else "Organisation-wide"

    def save_model(self, request, obj, form, change):
        decision = soa.set_applicability(
            actor=request.user,
            requirement=obj.requirement,
            system=obj.system,
            applicable=obj.applicable,
            justification=obj.justification,
        )
        obj.pk = decision.pk

    def delete_model(self, request, obj):
        soa.remove_applicability(actor=request.user, decision=obj)

    def delete_queryset(self, request, queryset):
        for decision in queryset:
            soa.remove_applicability(actor=request.user, decision=decision)


@admin.register(SoAVersion)
class SoAVersionAdmin(ChangeHistoryMixin, ReadOnlyAdmin):
    """Approved statements, read-only; the current statement page hangs off this admin."""

    change_list_template = "admin/governance/soaversion/change_list.html"
    list_display = ["__str__", "framework", "scope", "number", "approved_by", "approved_at", "short_digest"]
    list_filter = ["framework"]
    list_select_related = ["framework", "system", "approved_by"]
    search_fields = ["system__name", "system__slug", "note", "content_sha256"]
    fields = [
        "framework",
        "system",
        "number",
        "approved_by",
        "approved_at",
        "note",
        "content_sha256",
        "statement_table",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="scope", ordering="system__name")
    def scope(self, version):
        return version.system.name if version.system_id else "Organisation-wide"

    @admin.display(description="SHA-256")
    def short_digest(self, version):
        return f"{version.content_sha256[:12]}…"

    @admin.display(description="statement as approved")
    def statement_table(self, version):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry.get("ref_id"),
                    entry.get("title"),
                    "yes" if entry.get("applicable") else "no",
                    entry.get("justification"),
                    entry.get("status"),
                    ", ".join(c["code"] for c in entry.get("controls", [])),
                )
                for entry in version.content
            ),
        )
        return format_html(
            '<table class="soa-frozen"><thead><tr><th>Control</th><th>Title</th><th>Applicable</th>'
            "<th>Justification</th><th>Status</th><th>Controls</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "statement/",
                self.admin_site.admin_view(self.statement_view),
                name=f"{prefix}_statement",
            ),
            path(
                "statement/export/",
                self.admin_site.admin_view(self.export_view),
                name=f"{prefix}_statement_export",
            ),
            *super().get_urls(),
        ]

    # --- the current statement -----------------------------------------------------------------

    def _scope(self, request):
        """The framework and system the page shows; a system outside the user's scope is a 404."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ScopeForm(request.GET or None, user=request.user)
        frameworks = form.fields["framework"].queryset
        if request.GET and not form.is_valid():
            raise Http404("No such framework or AI system.")
        data = form.cleaned_data if request.GET else {}
        framework = data.get("framework") or (
            frameworks.filter(code=DEFAULT_FRAMEWORK_CODE).order_by("-version").first() or frameworks.first()
        )
        if not request.GET and framework is not None:
            form = ScopeForm(initial={"framework": framework}, user=request.user)
        return form, framework, data.get("system")

    def export_view(self, request):
        from governance.api.soa import export_response

        _, framework, system = self._scope(request)
        if framework is None:
            raise Http404("No framework with Annex A controls is loaded.")
        kind = "json" if request.GET.get("format") == "json" else "csv"
        rows = soa.build_statement(framework=framework, system=system)
        return export_response(rows, framework=framework, system=system, kind=kind)

    def statement_view(self, request):
        scope_form, framework, system = self._scope(request)
        can_decide = request.user.has_perm("governance.change_applicability")
        can_approve = request.user.has_perm("governance.add_soaversion")
        failed_row = None
        approve_form = ApproveForm()
        if request.method == "POST" and framework is not None:
            action = request.POST.get("action")
            if action == "applicability":
                failed_row = self._decide(request, framework, system)
            elif action == "approve":
                approve_form = self._approve(request, framework, system)
            if failed_row is None and not approve_form.errors:
                return HttpResponseRedirect(request.get_full_path())

        context = {
            **self.admin_site.each_context(request),
            "title": "Statement of Applicability",
            "subtitle": None,
            "opts": self.opts,
            "scope_form": scope_form,
            "framework": framework,
            "system": system,
            "can_decide": can_decide,
            "can_approve": can_approve,
            "approve_form": approve_form,
        }
        if framework is not None:
            context.update(self._statement_context(request, framework, system, failed_row))
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/governance/soa.html", context)

    def _statement_context(self, request, framework, system, failed_row):
        current = soa.build_statement(framework=framework, system=system)
        approved = soa.latest_version(framework=framework, system=system)
        changes = (
            soa.statement_changes(framework=framework, system=system, current=current, approved=approved)
            if approved
            else []
        )
        changes_by_ref = {change["ref_id"]: change for change in changes if change["change"] != "removed"}
        rows = []
        for entry in current:
            if failed_row is not None and failed_row.data.get("ref_id") == entry["ref_id"]:
                form = failed_row
            else:
                form = ApplicabilityRowForm(
                    initial={
                        "ref_id": entry["ref_id"],
                        "applicable": entry["applicable"],
                        "justification": entry["justification"],
                    },
                    auto_id=False,
                )
            change = changes_by_ref.get(entry["ref_id"])
            if change is not None:
                change = {**change, "lines": _change_lines(change)}
            rows.append(
                {
                    "entry": entry,
                    "status_label": STATUS_LABELS.get(entry["status"], entry["status"]),
                    "controls": [
                        {**control, "status_label": STATUS_LABELS.get(control["status"], control["status"])}
                        for control in entry["controls"]
                    ],
                    "change": change,
                    "form": form,
                }
            )
        query = request.GET.urlencode()
        export_url = reverse("admin:governance_soaversion_statement_export")
        return {
            "rows": rows,
            "approved": approved,
            "changes": changes,
            "removed": [change for change in changes if change["change"] == "removed"],
            "csv_url": f"{export_url}?{query}&format=csv" if query else f"{export_url}?format=csv",
            "json_url": f"{export_url}?{query}&format=json" if query else f"{export_url}?format=json",
        }

    def _decide(self, request, framework, system):
        """Apply one row's decision; returns the bound form when it failed, else ``None``."""
        form = ApplicabilityRowForm(request.POST, auto_id=False)
        if not form.is_valid():
            return form
        requirement = soa.annex_a_controls(framework).filter(ref_id=form.cleaned_data["ref_id"]).first()
        if requirement is None:
            form.add_error(None, "No such Annex A control.")
            return form
        try:
            soa.set_applicability(
                actor=request.user,
                requirement=requirement,
                system=system,
                applicable=form.cleaned_data["applicable"],
                justification=form.cleaned_data["justification"],
            )
        except NotAllowed as exc:
            messages.error(request, str(exc))
            return None
        except ValidationError as exc:
            add_service_errors(form, exc)
            messages.error(request, f"{requirement.ref_id} was not changed: see the message on its row.")
            return form
        messages.success(request, f"Saved the decision for {requirement.ref_id}.")
        return None

    def _approve(self, request, framework, system):
        form = ApproveForm(request.POST)
        if not form.is_valid():
            return form
        try:
            version = soa.approve_statement(
                actor=request.user, framework=framework, system=system, note=form.cleaned_data["note"]
            )
        except NotAllowed as exc:
            messages.error(request, str(exc))
            return ApproveForm()
        except ValidationError as exc:
            add_service_errors(form, exc)
            return form
        messages.success(request, f"Approved {version} (SHA-256 {version.content_sha256[:12]}…).")
        return ApproveForm()


def _change_lines(change: dict) -> list[dict]:
    """A changed entry's fields as readable ``old → new`` text."""
    return [
        {"field": field, "old": _describe(field, values["old"]), "new": _describe(field, values["new"])}
        for field, values in change["fields"].items()
    ]


def _describe(field: str, value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field == "objective":
        return f"{value.get('ref_id')} {value.get('title')}"
    if field == "controls":
        return ", ".join(
            f"{c.get('code')} ({STATUS_LABELS.get(c.get('status'), c.get('status'))})" for c in value
        )
    if field == "evidence":
        return ", ".join(f"{e.get('title')}{' (expired)' if e.get('expired') else ''}" for e in value)
    if field == "status":
        return str(STATUS_LABELS.get(value, value))
    return str(value)
