"""Imports every ORM module so the one metadata knows all tables (migrations, create_all)."""

from __future__ import annotations


def import_all() -> None:
    """Import each domain's models module."""
    import ifactory.analytics.alert_models
    import ifactory.analytics.prognostics.models
    import ifactory.auth.models
    import ifactory.core.audit
    import ifactory.core.outbox
    import ifactory.inventory.models
    import ifactory.maintenance.models
    import ifactory.maintenance.pm_models
    import ifactory.plant.models
    import ifactory.production.models
    import ifactory.quality.models
    import ifactory.stream.models  # noqa: F401
