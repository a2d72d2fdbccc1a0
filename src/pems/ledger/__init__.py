"""The double-entry ledger: append-only journal entries and their postings."""
