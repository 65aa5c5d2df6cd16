"""Per-object change history in the admin, read from the trigger-written ChangeEvent table."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.template.response import TemplateResponse

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
    """An admin that never writes (history, audit records)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
