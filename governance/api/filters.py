import django_filters
from django.db.models import Q

from governance import choices
from governance.models import AIModel, AISystem


class AISystemFilter(django_filters.FilterSet):
    lifecycle_stage = django_filters.MultipleChoiceFilter(choices=choices.LifecycleStage.choices)
    eu_ai_act_class = django_filters.MultipleChoiceFilter(choices=choices.EUAIActClass.choices)
    risk_tier = django_filters.MultipleChoiceFilter(choices=choices.RiskTier.choices)
    operator_role = django_filters.ChoiceFilter(choices=choices.OperatorRole.choices)
    annex_iii_area = django_filters.ChoiceFilter(choices=choices.AnnexIIIArea.choices)
    team = django_filters.CharFilter(field_name="owning_team__slug", help_text="Owning team's slug.")
    model = django_filters.NumberFilter(method="filter_model", help_text="Id of a model the system uses.")
    tag = django_filters.CharFilter(method="filter_tag")
    jurisdiction = django_filters.CharFilter(
        method="filter_jurisdiction", help_text="ISO 3166-1 alpha-2 code."
    )
    q = django_filters.CharFilter(method="search", help_text="Search slug, name, purpose and description.")

    class Meta:
        model = AISystem
        fields = ["lifecycle_stage", "eu_ai_act_class", "risk_tier", "operator_role", "annex_iii_area"]

    def filter_model(self, queryset, name, value):
        return queryset.filter(
            pk__in=AISystem.ai_models.through.objects.filter(model_id=value).values("system_id")
        )

    def filter_tag(self, queryset, name, value):
        return queryset.filter(tags__contains=[value.lower()])

    def filter_jurisdiction(self, queryset, name, value):
        return queryset.filter(jurisdictions__contains=[value.upper()])

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(slug__icontains=value)
            | Q(name__icontains=value)
            | Q(purpose__icontains=value)
            | Q(description__icontains=value)
        )


class AIModelFilter(django_filters.FilterSet):
    modality = django_filters.ChoiceFilter(choices=choices.ModelModality.choices)
    model_type = django_filters.ChoiceFilter(choices=choices.ModelType.choices)
    weights = django_filters.ChoiceFilter(choices=choices.WeightsAvailability.choices)
    hosting = django_filters.ChoiceFilter(choices=choices.Hosting.choices)
    provider = django_filters.CharFilter(lookup_expr="iexact")
    q = django_filters.CharFilter(method="search", help_text="Search provider, name and version.")

    class Meta:
        model = AIModel
        fields = ["modality", "model_type", "weights", "hosting", "provider"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(provider__icontains=value) | Q(name__icontains=value) | Q(version__icontains=value)
        )


class TeamFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = AISystem.owning_team.field.related_model
        fields = []

    def search(self, queryset, name, value):
        return queryset.filter(Q(slug__icontains=value) | Q(name__icontains=value))
