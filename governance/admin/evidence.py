from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from governance.admin.base import ChangeHistoryMixin, TodayRuleFilter
from governance.choices import EvidenceKind
from governance.exceptions import TooLarge, UnacceptableContent
from governance.models import ControlImplementation, Evidence, Requirement, Team
from governance.services import evidence as evidence_service
from governance.services.access import is_officer

_REFERENCES = ("implementations", "requirements")


def _form_field(db_field, **kwargs):
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class EvidenceAddForm(forms.ModelForm):
    """New evidence: a file, checked by the same rules as the API, or a link."""

    upload = forms.FileField(
        label="File",
        required=False,
        help_text=(
            f"For file evidence. Accepted: {evidence_service.ACCEPTED}. The type is read from the "
            "file's bytes and must agree with the name's extension."
        ),
    )

    class Meta:
        model = Evidence
        fields = ["kind", "upload", *evidence_service.EDITABLE_FIELDS, *_REFERENCES]
        formfield_callback = _form_field

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.inspected = None
        limit = evidence_service.max_file_bytes()
        self.fields["upload"].help_text += f" At most {filesizeformat(limit)}."

    def clean(self):
        data = super().clean()
        kind, upload, url = data.get("kind"), data.get("upload"), data.get("url")
        if kind == EvidenceKind.FILE:
            if url:
                self.add_error("url", "File evidence has no URL; add the link as evidence of its own.")
            if upload is None:
                self.add_error("upload", "Choose the file to upload.")
            else:
                try:
                    self.inspected = evidence_service.inspect_upload(upload)
                except (TooLarge, UnacceptableContent) as exc:
                    self.add_error("upload", exc.message)
        elif kind == EvidenceKind.LINK:
            if upload is not None:
                self.add_error("upload", "Link evidence has no file; choose the kind File instead.")
        if "team" in data and self.actor is not None:
            try:
                evidence_service.check_evidence_scope(actor=self.actor, team=data["team"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


class EvidenceChangeForm(forms.ModelForm):
    class Meta:
        model = Evidence
        fields = [*evidence_service.EDITABLE_FIELDS, *_REFERENCES]
        formfield_callback = _form_field

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        if self.instance.kind == EvidenceKind.FILE and "url" in self.fields:
            del self.fields["url"]

    def clean(self):
        data = super().clean()
        if "team" in self.changed_data and "team" in data and self.actor is not None:
            try:
                evidence_service.check_evidence_scope(actor=self.actor, team=data["team"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


class ExpiredFilter(TodayRuleFilter):
    title = "expired"
    parameter_name = "expired"
    rule, yes, no = "expired", "Expired", "Still valid"


@admin.register(Evidence)
class EvidenceAdmin(ChangeHistoryMixin, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "title",
        "kind",
        "team",
        "collected_on",
        "valid_until",
        "is_expired",
        "file_size",
        "download",
    ]
    list_filter = ["kind", ExpiredFilter, "team"]
    list_select_related = ["team"]
    search_fields = ["title", "description", "original_name", "url", "sha256"]
    filter_horizontal = list(_REFERENCES)
    date_hierarchy = "collected_on"
    list_per_page = 50
    readonly_fields = [
        "kind",
        "download",
        "original_name",
        "content_type",
        "file_size",
        "sha256",
        "uploaded_by",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user).with_expiry(timezone.localdate())

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = EvidenceAddForm if obj is None else EvidenceChangeForm
        form = super().get_form(request, obj, change=change, **kwargs)

        class ActorForm(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, actor=request.user, **inner)
                if not is_officer(request.user) and "team" in self.fields:
                    self.fields["team"].required = True

        return ActorForm

    def get_fieldsets(self, request, obj=None):
        details = {"fields": list(evidence_service.DETAIL_FIELDS)}
        links = {
            "fields": list(_REFERENCES),
            "description": "The control implementations and requirements this evidence supports.",
        }
        if obj is None:
            return [
                ("What it is", {"fields": ["kind", "upload", "url"]}),
                ("Details", details),
                ("What it shows", links),
            ]
        stored = {"fields": ["kind", "download", "original_name", "content_type", "file_size", "sha256"]}
        if obj.kind == EvidenceKind.LINK:
            stored = {"fields": ["kind", "url"]}
        return [
            ("What it is", stored),
            ("Details", details),
            ("What it shows", links),
            ("Record", {"fields": ["uploaded_by", "created_at", "updated_at"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "team" and not is_officer(request.user):
            kwargs["queryset"] = Team.objects.filter(pk__in=request.user.team_ids())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "implementations":
            kwargs["queryset"] = (
                ControlImplementation.objects.visible_to(request.user)
                .select_related("control", "system")
                .order_by("control__code", "system__name")
            )
        elif db_field.name == "requirements":
            kwargs["queryset"] = Requirement.objects.visible_to(request.user).select_related("framework")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or evidence_service.may_change_evidence(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or evidence_service.may_change_evidence(request.user, obj))

    @admin.display(description="expired", boolean=True)
    def is_expired(self, evidence):
        return evidence.expired

    @admin.display(description="size", ordering="size")
    def file_size(self, evidence):
        return filesizeformat(evidence.size) if evidence.size is not None else "-"

    @admin.display(description="file")
    def download(self, evidence):
        if evidence.kind != EvidenceKind.FILE or not evidence.pk:
            return "-"
        url = reverse("evidence-download", args=[evidence.pk])
        return format_html('<a href="{}">Download {}</a>', url, evidence.original_name or "file")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        references = {name: list(data.get(name) or []) for name in _REFERENCES}
        if change:
            editable = evidence_service.EDITABLE_FIELDS
            changes = {name: data[name] for name in form.changed_data if name in editable}
            saved = evidence_service.update_evidence(
                actor=request.user, evidence=obj, changes=changes, **references
            )
        else:
            details = {name: data.get(name) for name in evidence_service.DETAIL_FIELDS}
            details["description"] = details["description"] or ""
            if data["kind"] == EvidenceKind.FILE:
                saved = evidence_service.add_file_evidence(
                    actor=request.user, upload=data["upload"], **details, **references
                )
            else:
                saved = evidence_service.add_link_evidence(
                    actor=request.user, url=data["url"], **details, **references
                )
        obj.pk = saved.pk
        obj._state.adding = False
        for field in obj._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    def save_related(self, request, form, formsets, change):
        # The service has set the links; saving the form's many-to-many data again would repeat it.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        evidence_service.delete_evidence(actor=request.user, evidence=obj)

    def delete_queryset(self, request, queryset):
        for evidence in queryset:
            evidence_service.delete_evidence(actor=request.user, evidence=evidence)
