"""The dashboard's widgets, one concern each."""
