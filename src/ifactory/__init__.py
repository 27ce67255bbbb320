"""iFactory: one real-time data layer for a smart factory."""

__version__ = "0.1.0"
