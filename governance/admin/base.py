"""The admin's shared bases: the full change history of an object, read-only admins, forms that
end in a service call and show its refusals, yes/no filters over a queryset rule, and foreign-key
widgets without edit links."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.utils import timezone

from governance.exceptions import Conflict, NotAllowed
from governance.models import ChangeEvent


class ChangeHistoryMixin:
    """Replace the admin's "History" page (which only knows admin edits) with the full record."""

    history_page_size = 100

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        events = ChangeEvent.objects.for_object(obj).order_by("-id")
        page = Paginator(events, self.history_page_size).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {obj}",
            "subtitle": None,
            "object": obj,
            "opts": self.opts,
            "page": page,
            "rows": [_row(event) for event in page],
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/governance/change_history.html", context)


def _row(event: ChangeEvent) -> dict:
    if event.operation == ChangeEvent.Operation.UPDATE:
        values = {k: v for k, v in event.changes.items()}
    else:
        data = event.after if event.operation == ChangeEvent.Operation.INSERT else event.before
        values = {k: [None, v] if event.after else [v, None] for k, v in (data or {}).items()}
    return {
        "event": event,
        "what": event.table_name.removeprefix("governance_"),
        "fields": sorted(values.items()),
    }


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that never writes (catalog data, history, audit records)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def add_service_errors(
    form: forms.Form, exc: ValidationError, renamed: Mapping[str, str] | None = None
) -> None:
    """A service's refusal on ``form``: each message next to the field it names (``renamed`` maps a
    service's argument to the form field that carries it), the rest above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, messages in exc.message_dict.items():
        field = (renamed or {}).get(field, field)
        form.add_error(field if field in form.fields else None, messages)


class ServiceForm(forms.ModelForm):
    """A form whose validation ends by running its service call (``decide``), so the service's
    refusals show on the form; ``result`` holds what the service returned."""

    actor = None
    result = None
    error_fields: Mapping[str, str] = {}  # a service argument -> the form field that carries it

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.result = self.decide(data)
        except ValidationError as exc:
            add_service_errors(self, exc, self.error_fields)
        except (Conflict, NotAllowed) as exc:
            self.add_error(None, str(exc))
        return data

    def decide(self, data):
        raise NotImplementedError


class WithoutRelatedEditLinks:
    """Keep a form about its own object: no links that edit or delete a related team or model from it."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if isinstance(getattr(formfield, "widget", None), RelatedFieldWidgetWrapper):
            formfield.widget.can_change_related = False
            formfield.widget.can_delete_related = False
        return formfield


class TodayRuleFilter(admin.SimpleListFilter):
    """A yes/no list filter over a queryset rule that takes today's date and a flag, such as
    ``expired(today, True)``: the rule lives on the queryset, the filter only asks it."""

    rule: str  # the queryset method
    yes: str
    no: str

    def lookups(self, request, model_admin):
        return [("yes", self.yes), ("no", self.no)]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return getattr(queryset, self.rule)(timezone.localdate(), self.value() == "yes")
        return queryset
