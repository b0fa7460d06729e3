"""dfrec.models."""
