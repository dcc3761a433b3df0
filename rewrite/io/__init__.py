"""Files: models from the command line, atomic saving, provenance."""
