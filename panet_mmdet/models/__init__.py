"""PANet's model components, registered into mmdet's ``MODELS``."""
