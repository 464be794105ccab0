"""Faces: detection, alignment and restoration (GFPGAN and friends) pasted back."""
