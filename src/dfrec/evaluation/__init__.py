"""dfrec.evaluation."""
