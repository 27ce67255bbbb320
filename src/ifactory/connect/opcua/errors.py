"""OPC UA errors, translated at the edge from asyncua's exceptions (Home Assistant style)."""

from __future__ import annotations

from ifactory.connect.base import ConnectorAuthFailed, ConnectorConfigInvalid, ConnectorUnavailable


class OpcUaNotReady(ConnectorUnavailable):
    """The server cannot be reached or dropped the connection: retry with backoff."""

    code = "opcua_not_ready"


class OpcUaAuthFailed(ConnectorAuthFailed):
    """The server refused the user, the password, the certificate or the security policy."""

    code = "opcua_auth_failed"


class OpcUaReadFailed(ConnectorUnavailable):
    """A browse, read or subscription request was answered with a Bad status."""

    code = "opcua_read_failed"


class OpcUaConfigInvalid(ConnectorConfigInvalid):
    """An endpoint or source in the plant model is not usable (bad node id, policy...)."""

    code = "opcua_config_invalid"
