"""An example zoo plugin: the model, dataset and optimizer live in their own modules."""
