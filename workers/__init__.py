"""When: the Dramatiq broker, actors, the outbox relay and the scheduler."""
