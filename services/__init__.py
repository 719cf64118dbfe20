"""What: the domain rules, one module per domain. No HTTP or GraphQL imports here."""
