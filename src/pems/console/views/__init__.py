"""Console views: thin — they check scope and capability, then read or call an action."""
