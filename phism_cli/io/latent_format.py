"""The name and version of the latent maps `phism encode` writes (Zarr or GeoTIFF)."""

LATENT_FORMAT = "phism-latents"
# 1: the first; 2: a brightness channel, PCA loadings in the renderer metadata (a phism that
# reads 1 would misrender these, so it refuses them as newer)
LATENT_FORMAT_VERSION = 2
