"""Explanations outside this process: the TF Serving SavedModel export, REST request helpers,
and one batch split across several devices."""
