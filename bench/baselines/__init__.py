"""In-process servers the gateway is measured against (cells c and d)."""
