"""Explanations outside this process: the TF Serving SavedModel export, REST helpers, one
batch split across several devices, and (``serving.beam``, an optional extra) whole data sets
through Apache Beam."""
