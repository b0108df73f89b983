"""Annotation exports: the formats tools write (read back in formats, written in export, Label Studio's
brush codec in label_studio) and their merge into full-size masks (merge)."""
