"""Converters for the module classes of the papers' public code, matched by class name (docs/PAPERS.md)."""

from __future__ import annotations

from torch import nn

from snncompile.frontend.papers import mlf_dsresnet, mpbn, stbp_tdbn

REPOSITORIES = {
    "stbp_tdbn": stbp_tdbn.REPO,
    "mpbn": mpbn.REPO,
    "mlf_dsresnet": mlf_dsresnet.REPO,
}


def layout_hint(model: nn.Module) -> tuple[str, int] | None:
    """(input layout, T) for a model built from a repository's modules, or None for other models."""
    for module in (mpbn, mlf_dsresnet, stbp_tdbn):
        hint = module.layout_hint(model)
        if hint is not None:
            return hint
    return None
