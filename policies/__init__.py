"""May: the Casbin model and roles, the one authorize() entry, the scope-to-SQL compiler."""
