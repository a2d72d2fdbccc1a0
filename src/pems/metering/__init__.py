"""What the collector learns from meters: latest state, interval readings, events, link health."""
