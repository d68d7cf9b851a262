"""Writing explanations out: safe file names, mask files, summary JSON, overlays and grids."""
