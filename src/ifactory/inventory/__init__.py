"""Spare parts inventory: locations, the stock ledger, reservations, reorder and requisitions."""
