"""Tests of users, roles, API tokens and authentication."""
