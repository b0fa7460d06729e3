"""dfrec.report."""
