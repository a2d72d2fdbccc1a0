"""The command queue: trip, close, keep-power, credit pushes — each executed exactly once."""
