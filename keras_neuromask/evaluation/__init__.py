"""Scoring explanations: localisation and fidelity metrics, the sanity check, RISE, the
tf-keras-vis methods, the side-by-side comparison, reports and the generated data sets."""
