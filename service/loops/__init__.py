"""The long-running loops of a scheduler replica: leadership, scheduler, materialiser,
relay, worker pool, and how they outlive outages."""
