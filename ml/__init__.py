"""Jobs that train and apply the models; their logic lives in the lakehouse package."""
