"""Example files shipped with PEMS.

``tariffs/``: the tariffs of docs/tariffs.md, which ``pems demo`` sells under and
``pems tariff price`` previews, with usage series to price.
"""
