"""Fast JSON with numpy support (orjson)."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(data: Any) -> str:
    """Serialise to a JSON string; numpy arrays and scalars are supported, NaN becomes null."""
    return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode()
