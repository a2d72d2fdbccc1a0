"""Console forms; money and control forms share the confirm-with-a-reason shape of ``base``."""
