"""PEMS — open-source remote prepaid energy management."""
