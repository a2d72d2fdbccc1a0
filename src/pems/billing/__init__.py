"""Tariffs in force, server-side settlement, meter-side credit, and the prepaid policy."""
