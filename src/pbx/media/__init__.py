"""The media engine: one vectorized tick over every live channel."""
