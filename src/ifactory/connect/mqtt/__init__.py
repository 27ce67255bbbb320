"""MQTT connector: unified-namespace JSON (uns.py) over a persistent QoS 1 session (client.py)."""
