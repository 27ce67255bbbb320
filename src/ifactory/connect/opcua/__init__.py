"""OPC UA client: secure sessions, browse into tag proposals, subscriptions that reconnect."""

from __future__ import annotations

from ifactory.connect.opcua.client import BrowsedVariable, OpcUaClient
from ifactory.connect.opcua.config import (
    Deadband,
    OpcUaEndpoint,
    OpcUaPoint,
    OpcUaSource,
    endpoints_from_plant,
)
from ifactory.connect.opcua.connector import OpcUaConnector
from ifactory.connect.opcua.errors import (
    OpcUaAuthFailed,
    OpcUaConfigInvalid,
    OpcUaNotReady,
    OpcUaReadFailed,
)
from ifactory.connect.opcua.proposals import TagProposal, propose
from ifactory.connect.opcua.subscriber import OpcUaSubscriber

__all__ = [
    "BrowsedVariable",
    "Deadband",
    "OpcUaAuthFailed",
    "OpcUaClient",
    "OpcUaConfigInvalid",
    "OpcUaConnector",
    "OpcUaEndpoint",
    "OpcUaNotReady",
    "OpcUaPoint",
    "OpcUaReadFailed",
    "OpcUaSource",
    "OpcUaSubscriber",
    "TagProposal",
    "endpoints_from_plant",
    "propose",
]
