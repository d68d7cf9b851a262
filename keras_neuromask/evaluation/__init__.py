"""Scoring explanations: localisation and fidelity metrics, the sanity check, RISE, the
tf-keras-vis methods, the side-by-side comparison, reports, the generated data sets and the
real-photo composites (real objects pasted into real scenes, ground truth known)."""
