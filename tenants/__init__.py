"""Who: regions, tenants, agencies, users, the principal and its scope, the scoped DB session."""
