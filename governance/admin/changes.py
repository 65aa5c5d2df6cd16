from django.contrib import admin

from governance.admin.base import ReadOnlyAdmin
from governance.models import ChangeEvent


@admin.register(ChangeEvent)
class ChangeEventAdmin(ReadOnlyAdmin):
    """The whole change history, for officers and auditors."""

    list_display = [
        "occurred_at",
        "table_name",
        "object_pk",
        "operation",
        "actor",
        "source",
        "correlation_id",
    ]
    list_filter = ["operation", "table_name", "source"]
    search_fields = ["object_pk", "actor", "correlation_id", "reason"]
    date_hierarchy = "occurred_at"
    list_per_page = 100
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)
