"""capture: every inbound sign of interest becomes one clean lead."""
