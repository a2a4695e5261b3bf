"""Training code for the index kinds' encoders (one module per objective)."""
