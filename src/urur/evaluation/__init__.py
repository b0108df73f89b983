"""Evaluation: whole-image and sliding-window inference, metrics, the protocol that evaluates a
checkpoint on the test split, and the FPS/memory protocol."""
