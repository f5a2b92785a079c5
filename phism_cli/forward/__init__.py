"""Forward models: parameters with physical units in, spectra out; differentiable, batched over
spectra, with no trained weights. Inversions (`phism_cli.inversion`) run backwards through them.
"""
