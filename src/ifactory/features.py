"""Feature packages that plug into a running platform (consumers, event handlers, workers).

Each entry is "module:function"; the function takes the Platform and wires its part in
(pipeline consumers, bus subscriptions, background services in `platform.extras`). Features
add one line here instead of editing the composition root.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ifactory.platform import Platform

INSTALLERS: list[str] = [
    "ifactory.production.live:install",
    "ifactory.maintenance.breakdowns:install",
    "ifactory.maintenance.pm:install",
    "ifactory.connect.plc_install:install",
    "ifactory.connect.mqtt_install:install",
    "ifactory.connect.nats_ingest:install",
    "ifactory.quality.tagfeed:install",
    "ifactory.stream.anomaly:install",
    "ifactory.analytics.prognostics.install:install",
]


def install_all(platform: Platform) -> None:
    """Run every feature's installer on `platform`."""
    for entry in INSTALLERS:
        module, _, name = entry.partition(":")
        getattr(importlib.import_module(module), name)(platform)
