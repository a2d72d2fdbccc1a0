"""Tenants and their prepaid accounts."""
