"""Unitrail's services, each the system of record for its domain, and the runtime they share."""
