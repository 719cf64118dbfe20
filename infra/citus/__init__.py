"""Citus: the DDL that spreads the schema over a cluster, generated from the migrated catalog."""
