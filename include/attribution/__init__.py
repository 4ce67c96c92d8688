"""Real-time GA4 marketing attribution: everything the DAG wires, and the commands around it."""
