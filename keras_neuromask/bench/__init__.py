"""Speed: NeuroMask's step against the classifier's own gradient and the paper's loop, and
where a step's time goes."""
