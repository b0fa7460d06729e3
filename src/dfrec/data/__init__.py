"""dfrec.data."""
