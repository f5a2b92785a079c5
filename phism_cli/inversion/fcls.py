"""Fully constrained (and non-negative) least squares, exactly, for a batch of spectra at once.

min_x ||W^(1/2) (b - A x)||^2  subject to  x >= 0, sum(x) = 1 (or x >= 0 alone: `nnls`), as
the quadratic programme
min 1/2 x'Gx - c'x with G = A'WA, c = A'Wb, solved by a primal active-set method (Lawson and
Hanson's NNLS with the sum-to-one row kept as an equality, not appended with a large weight as
in Heinz and Chang's approximation). Every spectrum runs the same steps in lockstep with masks,
so a tile of pixels is one batched linear solve per step rather than a Python loop per pixel.
The result satisfies the KKT conditions to rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["fcls", "gram", "nnls"]


def gram(endmembers: Tensor, spectra: Tensor,
         weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """G (N|1, K, K) and c (N, K) for endmembers (K, C) or (N, K, C) and spectra (N, C)."""
    a = endmembers.to(torch.float64)
    b = spectra.to(torch.float64)
    if weights is None:
        if a.dim() == 2:
            return (a @ a.T).unsqueeze(0), b @ a.T
        return a @ a.transpose(1, 2), torch.einsum("nkc,nc->nk", a, b)
    w = weights.to(torch.float64)
    if a.dim() == 2:
        a = a.unsqueeze(0)
    weighted = a * w[:, None, :]
    return weighted @ a.transpose(1, 2), torch.einsum("nkc,nc->nk", weighted, b)


def _solve_on_support(g: Tensor, c: Tensor, support: Tensor,
                      sum_to_one: bool = True) -> tuple[Tensor, Tensor]:
    """Minimise 1/2 x'Gx - c'x with x = 0 off `support` (and sum x = 1): (x, multiplier,
    0 without the sum)."""
    n, k = c.shape
    both = support[:, :, None] & support[:, None, :]
    eye = torch.eye(k, dtype=g.dtype, device=g.device)
    # A ridge far below any real curvature keeps collinear endmembers solvable.
    ridge = 1e-12 * g.diagonal(dim1=1, dim2=2).mean(dim=1).clamp(min=1e-300)
    size = k + int(sum_to_one)
    system = torch.zeros(n, size, size, dtype=g.dtype, device=g.device)
    system[:, :k, :k] = torch.where(both, g + ridge[:, None, None] * eye, 0.0) \
        + torch.where(support, 0.0, 1.0).diag_embed()
    rhs = torch.where(support, c, 0.0)
    if sum_to_one:
        system[:, :k, k] = support.to(g.dtype)
        system[:, k, :k] = support.to(g.dtype)
        rhs = torch.cat([rhs, torch.ones(n, 1, dtype=g.dtype, device=g.device)], dim=1)
    solution = torch.linalg.solve(system, rhs)
    multiplier = solution[:, k] if sum_to_one else torch.zeros(n, dtype=g.dtype,
                                                              device=g.device)
    return torch.where(support, solution[:, :k], 0.0), multiplier


def fcls(g: Tensor, c: Tensor, tol: float = 1e-10, max_iter: int | None = None,
         sum_to_one: bool = True) -> Tensor:
    """Abundances (N, K) >= 0 summing to 1 (with `sum_to_one`) that minimise 1/2 x'Gx - c'x
    for each row.

    `g` is (N, K, K) or (1, K, K) shared by all rows; `c` is (N, K). Works in float64; rows
    leave the working set as soon as they are optimal, so easy spectra cost one solve.
    """
    c = c.to(torch.float64)
    n, k = c.shape
    g = g.to(torch.float64).expand(n, k, k)
    x, support = _feasible_start(g, c, sum_to_one)
    todo = torch.arange(n, device=c.device)
    for _ in range(max_iter or 3 * k + 10):
        gt, ct, xt, st = g[todo], c[todo], x[todo], support[todo]
        scale = gt.diagonal(dim1=1, dim2=2).amax(dim=1).clamp(min=1e-300)
        _, nu = _solve_on_support(gt, ct, st, sum_to_one)
        dual = torch.einsum("nij,nj->ni", gt, xt) - ct + nu[:, None]
        dual = torch.where(st, torch.inf, dual)
        best = dual.argmin(dim=1)
        improving = dual.gather(1, best[:, None])[:, 0] < -tol * scale
        if not improving.any():
            break
        todo, gt, ct, xt, st, best = (t[improving] for t in (todo, gt, ct, xt, st, best))
        st = st | torch.nn.functional.one_hot(best, k).bool()
        x[todo], support[todo] = _restore_feasibility(gt, ct, xt, st, tol, sum_to_one)
    return x


def nnls(g: Tensor, c: Tensor, tol: float = 1e-10, max_iter: int | None = None) -> Tensor:
    """Abundances (N, K) >= 0 that minimise 1/2 x'Gx - c'x for each row (no sum
    constraint): Lawson and Hanson's NNLS, batched like `fcls`."""
    return fcls(g, c, tol, max_iter, sum_to_one=False)


def _feasible_start(g: Tensor, c: Tensor, sum_to_one: bool) -> tuple[Tensor, Tensor]:
    """A feasible point whose support is usually already the optimal one: solve on all
    endmembers and drop every negative one until the solution is non-negative. The active-set
    loop then only has to confirm it (or repair the rare wrong guess)."""
    n, k = c.shape
    support = torch.ones(n, k, dtype=torch.bool, device=c.device)
    x = torch.zeros(n, k, dtype=torch.float64, device=c.device)
    todo = torch.arange(n, device=c.device)
    for _ in range(k):
        z, _ = _solve_on_support(g[todo], c[todo], support[todo], sum_to_one)
        negative = support[todo] & (z <= 0)
        done = ~negative.any(dim=1)
        x[todo[done]] = z[done]
        support[todo] = support[todo] & ~negative
        todo = todo[~done]
        if len(todo) == 0:
            break
    if len(todo) and sum_to_one:  # cannot happen in exact arithmetic: the best vertex
        best = (0.5 * g[todo].diagonal(dim1=1, dim2=2) - c[todo]).argmin(dim=1)
        x[todo] = torch.nn.functional.one_hot(best, k).to(torch.float64)
        support[todo] = x[todo] > 0
    elif len(todo):  # without the sum, 0 is feasible
        support[todo] = False
    return x, support


def _restore_feasibility(g: Tensor, c: Tensor, x: Tensor, support: Tensor, tol: float,
                         sum_to_one: bool) -> tuple[Tensor, Tensor]:
    """Lawson-Hanson's inner loop: step towards the support's optimum, dropping the
    endmembers that would go negative, until the optimum on the support is feasible."""
    for _ in range(x.shape[1] + 1):
        z, _ = _solve_on_support(g, c, support, sum_to_one)
        blocked = support & (z <= tol)
        if not blocked.any():
            return z, support
        ratio = torch.where(blocked, x / (x - z).clamp(min=1e-300), torch.inf)
        alpha = torch.where(blocked.any(dim=1), ratio.amin(dim=1).clamp(max=1.0), 1.0)
        x = (x + alpha[:, None] * (z - x)).clamp(min=0.0)
        support = support & (x > tol)
        x = torch.where(support, x, 0.0)
        if sum_to_one:
            x = x / x.sum(dim=1, keepdim=True)
    z, _ = _solve_on_support(g, c, support, sum_to_one)
    return z.clamp(min=0.0), support
