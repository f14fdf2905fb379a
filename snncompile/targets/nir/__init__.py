"""The `nir` target: legalize the float IR for NIR and write model.nir."""
