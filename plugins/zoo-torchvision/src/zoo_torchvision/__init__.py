"""torchvision classification architectures registered as zoo models."""
