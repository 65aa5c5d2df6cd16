"""Framework catalogs in the admin: a browser per framework, requirement pages with their
mappings and controls, and coverage per framework and scope."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from governance.admin.base import ChangeHistoryMixin, ReadOnlyAdmin
from governance.admin.packs import BuildPackPermission, build_pack_for_frameworks
from governance.models import Framework, Requirement, RequirementMapping
from governance.services import mappings
from governance.services.coverage import (
    STATE_LABELS,
    STATES,
    Scope,
    coverage_rows,
    coverage_summary,
    scope_choices,
    scope_for,
)


def _requirement_link(requirement) -> str:
    url = reverse("admin:governance_requirement_change", args=[requirement.pk])
    return format_html(
        '<a href="{}">{} {}</a> <small>({})</small>',
        url,
        requirement.ref_id,
        requirement.title,
        requirement.framework.short_name,
    )


@admin.register(Framework)
class FrameworkAdmin(BuildPackPermission, ReadOnlyAdmin):
    """Catalogs are loaded from files (manage.py load_catalogs), so they are read-only here."""

    actions = [build_pack_for_frameworks]

    list_display = [
        "short_name",
        "version",
        "publisher",
        "published_on",
        "requirement_count",
        "browse",
        "coverage",
    ]
    search_fields = ["code", "name", "short_name"]
    readonly_fields = [
        "code",
        "version",
        "name",
        "short_name",
        "publisher",
        "published_on",
        "source_url",
        "licence",
        "attribution",
        "loaded_from",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _requirements=Count("requirements"),
                _assessable=Count("requirements", filter=Q(requirements__assessable=True)),
            )
        )

    @admin.display(description="requirements (assessable)")
    def requirement_count(self, framework):
        return f"{framework._requirements} ({framework._assessable})"

    @admin.display(description="")
    def browse(self, framework):
        return format_html(
            '<a href="{}">Browse</a>', reverse("admin:governance_framework_tree", args=[framework.pk])
        )

    @admin.display(description="")
    def coverage(self, framework):
        url = reverse("admin:governance_framework_coverage", args=[framework.pk])
        return format_html('<a href="{}">Coverage</a>', url)

    def get_urls(self):
        own = [
            path(
                "<int:pk>/tree/", self.admin_site.admin_view(self.tree_view), name="governance_framework_tree"
            ),
            path(
                "<int:pk>/coverage/",
                self.admin_site.admin_view(self.coverage_view),
                name="governance_framework_coverage",
            ),
        ]
        return own + super().get_urls()

    def _context(self, request, framework, title):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "framework": framework,
            "title": title,
        }

    def tree_view(self, request, pk):
        """The framework's requirements in reading order, indented by depth."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        framework = get_object_or_404(Framework, pk=pk)
        requirements = list(
            framework.requirements.order_by("order").values(
                "id", "ref_id", "title", "kind", "parent_id", "assessable"
            )
        )
        depth: dict[int, int] = {}
        for row in requirements:
            row["depth"] = depth[row["id"]] = depth.get(row["parent_id"], -1) + 1 if row["parent_id"] else 0
        context = {
            **self._context(request, framework, f"{framework.short_name}: requirements"),
            "requirements": requirements,
        }
        return TemplateResponse(request, "admin/governance/framework_tree.html", context)

    def coverage_view(self, request, pk):
        """Coverage for the organisation, a team or a system, with the gaps."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        framework = get_object_or_404(Framework, pk=pk)
        systems, teams = scope_choices(request.user)
        scope = scope_for(request.user, team=request.GET.get("team"), system=request.GET.get("system"))
        state = request.GET.get("state") if request.GET.get("state") in STATES else None
        summary = coverage_summary(framework=framework, scope=scope)
        rows = coverage_rows(framework=framework, scope=scope, state=state)
        for row in rows:
            row["label"] = STATE_LABELS[row["state"]]
        context = {
            **self._context(request, framework, f"{framework.short_name}: coverage"),
            "summary": summary,
            "summary_cells": [
                (key, label, summary["counts"][key], summary["percentages"].get(key))
                for key, label in STATE_LABELS.items()
            ],
            "scope_label": _scope_label(scope),
            "rows": rows,
            "states": STATE_LABELS.items(),
            "state": state,
            "scope": scope,
            "systems": systems.values("slug", "name"),
            "teams": teams.values("slug", "name"),
        }
        return TemplateResponse(request, "admin/governance/framework_coverage.html", context)


@admin.register(Requirement)
class RequirementAdmin(ReadOnlyAdmin):
    list_display = ["ref_id", "title", "kind", "framework", "assessable"]
    list_filter = ["framework", "kind", "assessable"]
    search_fields = ["ref_id", "title", "description"]
    list_select_related = ["framework"]
    readonly_fields = [
        "framework",
        "ref_id",
        "parent",
        "kind",
        "title",
        "description",
        "text",
        "assessable",
        "mapped_requirements",
        "implementing_controls",
    ]
    fields = readonly_fields

    @admin.display(description="mapped requirements")
    def mapped_requirements(self, requirement):
        outgoing = requirement.mappings_out.select_related("target__framework")
        incoming = requirement.mappings_in.select_related("source__framework")
        rows = [
            (m.get_relationship_display().lower(), _requirement_link(m.target), m.provenance)
            for m in outgoing
        ]
        rows += [(_inverse(m.relationship), _requirement_link(m.source), m.provenance) for m in incoming]
        if not rows:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{} {} <small>— {}</small></li>", rows))

    @admin.display(description="controls implementing it")
    def implementing_controls(self, requirement):
        controls = requirement.controls.order_by("code")
        if not controls:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:governance_control_change", args=[c.pk]), c.code) for c in controls),
        )


def _scope_label(scope: Scope) -> str:
    if scope.system is not None:
        return f"system {scope.system.name}"
    if scope.team is not None:
        return f"team {scope.team.name}"
    return "the organisation"


def _inverse(relationship: str) -> str:
    return {
        "subset": "superset of",
        "superset": "subset of",
        "equal": "equal",
        "intersect": "intersects with",
    }.get(relationship, "related to")


class RequirementMappingForm(forms.ModelForm):
    class Meta:
        model = RequirementMapping
        fields = ["source", "target", "relationship", "provenance", "rationale"]

    def clean(self):
        data = super().clean()
        if data.get("source") and data.get("target"):
            probe = RequirementMapping(pk=self.instance.pk, source=data["source"], target=data["target"])
            if message := mappings.pair_error(probe):
                self.add_error("target", message)
        return data


@admin.register(RequirementMapping)
class RequirementMappingAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    form = RequirementMappingForm
    list_display = ["source", "relationship", "target", "provenance", "origin", "modified_locally"]
    list_filter = [
        "origin",
        "modified_locally",
        "relationship",
        "source__framework",
        "target__framework",
        "provenance",
    ]
    # Set by services/mappings.py (an officer's row is local; an edited shipped row is modified).
    readonly_fields = ["origin", "modified_locally"]
    search_fields = ["source__ref_id", "target__ref_id", "rationale"]
    list_select_related = ["source__framework", "target__framework"]
    autocomplete_fields = ["source", "target"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in RequirementMappingForm.Meta.fields}
        if change:
            mappings.update_mapping(actor=request.user, mapping=obj, changes=fields)
        else:
            obj.pk = mappings.create_mapping(actor=request.user, data=fields).pk

    def delete_model(self, request, obj):
        mappings.delete_mapping(actor=request.user, mapping=obj)
