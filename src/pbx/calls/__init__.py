"""Calls: legs, B2BUA bridging, dial plan, hold, transfer and CDRs (sans-I/O)."""
