"""The 15 social-protection regulations of the seed as data: a pydantic model of a service definition
(:mod:`shlyuz.services.model`), the YAML loader and catalogue (:mod:`shlyuz.services.loader`), the exported JSON
Schema (:mod:`shlyuz.services.schema`) and Mermaid diagrams (:mod:`shlyuz.services.mermaid`). See docs/services.md."""
