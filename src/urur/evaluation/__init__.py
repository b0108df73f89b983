"""Evaluation: whole-image and sliding-window inference, metrics, and the FPS/memory protocol."""
