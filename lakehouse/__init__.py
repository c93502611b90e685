"""Live-shopping lakehouse: Kafka events to bronze, silver and gold Delta tables."""
