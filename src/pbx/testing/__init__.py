"""pbx.testing."""
