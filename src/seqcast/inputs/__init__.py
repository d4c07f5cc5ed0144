"""What a network reads: windows over the target, past covariates aligned to its calendar, and
what one training loads from the workspace."""
