"""Connectors: protocol I/O that turns device data into TelemetryBatches for a durable sink."""
