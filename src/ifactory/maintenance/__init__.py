"""CMMS: serialised assets, work orders, PM plans, meters and reliability."""
