"""Framework catalogs: frameworks, their requirement trees, and mappings between requirements."""

from django.db import models

from governance import choices
from governance.querysets import CatalogQuerySet, RequirementQuerySet


class Framework(models.Model):
    """One version of a standard, regulation or profile (ISO/IEC 42001:2023, NIST AI RMF 1.0, …).

    A new version is loaded beside the old one, which stays for past assessments.
    """

    code = models.SlugField(max_length=60, help_text="Stable identifier, e.g. iso-iec-42001.")
    version = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    short_name = models.CharField(max_length=60)
    publisher = models.CharField(max_length=200)
    published_on = models.DateField(null=True, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    licence = models.CharField(max_length=300, help_text="Licence of the catalog content as shipped.")
    attribution = models.TextField(blank=True)
    loaded_from = models.CharField(max_length=300, help_text="Catalog file the rows were loaded from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["code", "-version"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="unique_framework_version")]

    def __str__(self) -> str:
        return self.short_name


class Requirement(models.Model):
    """A node of a framework's tree: a function, clause, control, article, annex point, …"""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="requirements")
    ref_id = models.CharField(max_length=60, help_text="The identifier the framework itself uses.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    kind = models.CharField(max_length=30, choices=choices.RequirementKind.choices)
    title = models.CharField(max_length=500)
    text = models.TextField(blank=True, help_text="Official text, where its licence allows shipping it.")
    description = models.TextField(blank=True, help_text="A summary in Verity's own words.")
    order = models.PositiveIntegerField(help_text="Position in the framework's reading order.")
    assessable = models.BooleanField(default=False, help_text="Counts in coverage and assessments.")
    attributes = models.JSONField(default=dict, blank=True, help_text="Framework-specific data.")

    objects = RequirementQuerySet.as_manager()

    class Meta:
        ordering = ["framework", "order"]
        constraints = [models.UniqueConstraint(fields=["framework", "ref_id"], name="unique_requirement_ref")]
        indexes = [models.Index(fields=["framework", "kind"], name="requirement_framework_kind")]

    def __str__(self) -> str:
        return f"{self.ref_id} {self.title}"


class RequirementMapping(models.Model):
    """A documented relation between two requirements, usually in different frameworks.

    Read in both directions: ``source`` → ``target`` with ``relationship``, and back with the
    inverse relationship (subset ↔ superset).

    Rows from the shipped crosswalk files have ``origin`` catalog and are kept in step with the files
    by ``load_catalogs`` until an officer edits one (``modified_locally``); rows officers record have
    ``origin`` local. ``load_catalogs`` never changes either of those.
    """

    class Origin(models.TextChoices):
        CATALOG = "catalog", "Shipped catalog"
        LOCAL = "local", "Made in Verity"

    source = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="mappings_out")
    target = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="mappings_in")
    relationship = models.CharField(max_length=10, choices=choices.MappingRelationship.choices)
    provenance = models.CharField(max_length=300, help_text="Where the mapping comes from.")
    rationale = models.TextField(blank=True)
    # Where the row was made, and whether an officer has changed a shipped one. Two fields rather
    # than one origin that flips to "local" on edit: the row still says it came from a crosswalk
    # file (and which pair it stands for), while ``load_catalogs`` only needs the flag to know it
    # must leave the row alone.
    origin = models.CharField(
        max_length=10,
        choices=Origin.choices,
        default=Origin.LOCAL,
        help_text="Shipped catalog: loaded from a crosswalk file by load_catalogs. "
        "Made in Verity: recorded by an officer.",
    )
    modified_locally = models.BooleanField(
        default=False,
        help_text="An officer changed this shipped mapping, so load_catalogs no longer updates it.",
    )

    objects = CatalogQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="unique_requirement_mapping"),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")), name="mapping_not_to_itself"
            ),
        ]
        indexes = [models.Index(fields=["target", "source"], name="mapping_target_source")]

    def __str__(self) -> str:
        return f"{self.source.ref_id} {self.relationship} {self.target.ref_id}"
