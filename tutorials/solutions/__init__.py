"""Reference solutions to the tutorial exercises, one module per chapter (NN_topic.py)."""
