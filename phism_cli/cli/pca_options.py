"""`--basis pca` on the command line: the encoder it builds and what it refuses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phism_cli.errors import PhismError

if TYPE_CHECKING:
    from phism_cli.model.pca import Encoder


def pca_encoder(settings: dict[str, Any]) -> Encoder:
    """`--basis pca`, refusing the options of a trained encoder that PCA has no use for."""
    from phism_cli.model.pca import PcaEncoder

    if settings.get("fixed"):
        raise PhismError("--fixed shares component shapes across pixels of a spectral basis, "
                         "and --basis pca has no shapes to share; drop one of the two")
    if settings.get("decoder", "basis") != "basis":
        raise PhismError(f"--decoder {settings['decoder']} learns a decoder, and --basis pca "
                         "renders with its own loadings; drop one of the two")
    if settings.get("hidden") is not None:
        raise PhismError("--hidden sizes the layers of a trained encoder, and --basis pca "
                         "has none (closed form); drop --hidden")
    if settings.get("latent_dim") is not None:
        raise PhismError("--latent-dim sizes the latent of --decoder mlp, and --basis pca "
                         "keeps --components/-k scores; drop --latent-dim")
    if settings.get("brightness") is False:
        raise PhismError("--no-brightness turns off a term of the spectral basis, and --basis "
                         "pca has none (its scores are centred on the mean); drop it")
    return PcaEncoder(n_components=settings["n_components"], seed=settings.get("seed", 0),
                      device=settings.get("device", "auto"))

