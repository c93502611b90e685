"""Event producers: the live-shopping simulator, the REES46 replayer and the Kafka sink."""
