"""The operator console: the HTML pages cashiers, electricians and managers use all day.

Views only read (through :mod:`pems.access.scope`) and call the domain actions;
every money or control change goes through ``pems.accounts.actions``,
``pems.billing`` and ``pems.control.actions`` (composed in :mod:`.operations`).
"""
