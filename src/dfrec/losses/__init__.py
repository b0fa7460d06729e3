"""dfrec.losses."""
