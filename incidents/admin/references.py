"""Public reference incidents (AI Incident Database) in the admin: read-only, since they are
imported from the AIID export (``manage.py import_aiid``)."""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from governance.admin.base import ChangeHistoryMixin, ReadOnlyAdmin
from incidents.models import ReferenceIncident


class MitDomainFilter(admin.SimpleListFilter):
    title = "MIT AI risk domain"
    parameter_name = "mit_domain"
    NONE = "-"

    def lookups(self, request, model_admin):
        domains = (
            model_admin.get_queryset(request)
            .exclude(mit_domain="")
            .order_by("mit_domain")
            .values_list("mit_domain", flat=True)
            .distinct()
        )
        return [*((domain, domain) for domain in domains), (self.NONE, "Not classified")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(mit_domain="" if value == self.NONE else value)


class YearFilter(admin.SimpleListFilter):
    title = "year"
    parameter_name = "year"

    def lookups(self, request, model_admin):
        years = model_admin.get_queryset(request).dates("date", "year", order="DESC")
        return [(str(day.year), str(day.year)) for day in years]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(date__year=int(value)) if value and value.isdigit() else queryset


@admin.register(ReferenceIncident)
class ReferenceIncidentAdmin(ChangeHistoryMixin, ReadOnlyAdmin):
    list_display = ["aiid_id", "title", "date", "mit_domain", "aiid_page"]
    list_display_links = ["aiid_id", "title"]
    list_filter = [MitDomainFilter, YearFilter]
    search_fields = ["title"]  # icontains on the title uses its trigram index
    list_per_page = 50
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["aiid_id", "title", "date", "description", "aiid_page"]}),
        ("Entities (alleged)", {"fields": ["deployer_list", "developer_list", "harmed_party_list"]}),
        ("Classification", {"fields": ["mit_domain", "mit_subdomain", "cset_attributes"]}),
        ("Source", {"fields": ["report_list", "attribution"]}),
    ]
    readonly_fields = [
        "aiid_id",
        "title",
        "date",
        "description",
        "aiid_page",
        "deployer_list",
        "developer_list",
        "harmed_party_list",
        "mit_domain",
        "mit_subdomain",
        "cset_attributes",
        "report_list",
        "attribution",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="AIID page")
    def aiid_page(self, incident):
        return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a>', incident.url)

    @admin.display(description="deployers")
    def deployer_list(self, incident):
        return ", ".join(incident.deployers) or "-"

    @admin.display(description="developers")
    def developer_list(self, incident):
        return ", ".join(incident.developers) or "-"

    @admin.display(description="harmed or nearly harmed parties")
    def harmed_party_list(self, incident):
        return ", ".join(incident.harmed_parties) or "-"

    @admin.display(description="AIID report ids")
    def report_list(self, incident):
        return ", ".join(str(report) for report in incident.report_ids) or "-"

    @admin.display(description="CSET v1 classification")
    def cset_attributes(self, incident):
        if not incident.cset:
            return "-"
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            ((key.replace("_", " "), value) for key, value in incident.cset.items()),
        )
        return format_html("<table>{}</table>", rows)
