"""dfrec.train."""
