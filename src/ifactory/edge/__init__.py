"""The edge gateway: sources → on-disk spool → forwarder to the platform (DESIGN.md, "Connect")."""
