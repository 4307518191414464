"""The exchange of stability at λ = 1/2, located at growing n and extrapolated.

For each n: `gradflow.bifurcation` over λ (fraction separable vs Wendel, ‖w̃*‖, h̃₁, margin),
λ_c(n) from P_sep = 1/2 (probit fit) and from the vanishing of ‖w̃*‖⁻², both extrapolated
in n^{-1/2} to λ_c(∞) with an error bar; and the divergence law of ‖w̃*‖ as λ → 1/2⁻
(power-law exponent, power law vs logarithm) beside
the CGMT large-n curve of docs/mathematics.md §8.

Run: `python examples/bifurcation_diagram.py [--out DIR] [--quick]`
(full size: n = 100, 200, 400, 40 draws per λ; σ = 1, the σ-free quantities ‖w̃*‖ = σ‖w*‖.)
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gradflow as gf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="figures")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ns", default=None, help="comma-separated n values")
    parser.add_argument("--realizations", type=int, default=None)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    ns = [40, 80] if args.quick else [100, 200, 400]
    if args.ns:
        ns = [int(v) for v in args.ns.split(",")]
    reps = args.realizations or (8 if args.quick else 40)
    lambdas = (np.r_[0.3:0.46:0.05, 0.48, 0.5, 0.52, 0.56, 0.6] if args.quick
               else np.r_[0.1, 0.2, 0.3:0.44:0.02, 0.44:0.56:0.01, 0.56:0.62:0.02])
    bifs, pts_p, pts_d, laws = [], [], [], []
    for n in ns:
        t0 = time.perf_counter()
        bif = gf.bifurcation(n, lambdas, reps, 1.0, seed=0)
        bifs.append(bif)
        pts_p.append(gf.critical_point(bif, method="p_sep"))
        pts_d.append(gf.critical_point(bif, method="divergence"))
        try:
            laws.append(gf.divergence_law(bif, lam_min=0.1))
        except ValueError as err:
            laws.append(None)
            print(f"n={n}: divergence law not fitted: {err}")
        print(f"n={n}: λ_c from P_sep = {pts_p[-1].lam:.4f} ± {pts_p[-1].precision:.4f}, "
              f"from ‖w̃*‖⁻² → 0: {pts_d[-1].lam:.4f} ± {pts_d[-1].precision:.4f}  "
              f"({time.perf_counter() - t0:.0f} s)")
        if laws[-1] is not None:
            law = laws[-1]
            print(f"        ‖w̃*‖ ~ (1/2 − λ)^(−ν): ν = {law.exponent:.3f} ± "
                  f"{law.exponent_err:.3f}; RSS power {law.rss_power:.3g} vs log "
                  f"{law.rss_log:.3g} → {law.preferred}")
    summary = {}
    for name, pts in [("p_sep", pts_p), ("divergence", pts_d)]:
        try:
            ext = gf.extrapolate(pts, ns)
            summary[name] = ext
            print(f"λ_c(∞) from {name}: {ext.lam:.4f} ± {ext.precision:.4f}")
        except ValueError as err:
            print(f"λ_c(∞) from {name}: not extrapolated ({err})")
    # The CGMT curve over the same λ (its local exponent tends to 1/2 only near λ_c).
    lam_c = np.array([0.3, 0.4, 0.45, 0.48, 0.49])
    r = np.array([gf.cgmt_norm(lam) for lam in lam_c])
    nu_local = -np.diff(np.log(r)) / np.diff(np.log(0.5 - lam_c))
    values = ", ".join(f"{lam:g}: {v:.3f}" for lam, v in zip(lam_c, r, strict=True))
    print(f"CGMT ‖w̃*‖ at λ = {values}; local exponents "
          + ", ".join(f"{v:.2f}" for v in nu_local))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    ax = axes[0]
    for n, bif in zip(ns, bifs, strict=True):
        ax.plot(bif.lam, bif.p_sep, "o", ms=3, label=f"n={n}")
        ax.plot(bif.lam, bif.wendel, "k-", lw=0.6)
    ax.set(xlabel="λ = d/n", ylabel="fraction separable (lines: Wendel)")
    ax.legend(fontsize=8)
    ax = axes[1]
    grid = np.linspace(0.3, 0.499, 60)
    for n, bif in zip(ns, bifs, strict=True):
        ok = bif.lam < 0.5
        ax.loglog(0.5 - bif.lam[ok], bif.norm_median[ok], "o-", ms=3, label=f"n={n} (median)")
    ax.loglog(0.5 - grid, [gf.cgmt_norm(v) for v in grid], "k--", label="CGMT, n → ∞")
    ax.loglog(0.5 - grid, 0.93 * (0.5 - grid) ** -0.5, "k:", label="0.93 (1/2 − λ)^(−1/2)")
    ax.set(xlabel="1/2 − λ", ylabel="‖w̃*‖")
    ax.legend(fontsize=8)
    ax = axes[2]
    x = np.asarray(ns, dtype=float) ** -0.5
    for name, pts, mk in [("P_sep = 1/2", pts_p, "o"), ("‖w̃*‖⁻² → 0", pts_d, "s")]:
        ax.errorbar(x, [p.lam for p in pts], [p.precision for p in pts], fmt=mk, label=name)
    for ext in summary.values():
        ax.errorbar([0.0], [ext.lam], [ext.precision], fmt="k*", ms=8)
    ax.axhline(0.5, color="gray", lw=0.5)
    ax.set(xlabel="n^(−1/2)", ylabel="λ_c(n)", title="stars: extrapolated λ_c(∞)")
    ax.legend(fontsize=8)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "pdf"):
        fig.savefig(out / f"bifurcation_diagram.{ext}", dpi=130)
    np.savez(out / "bifurcation_diagram.npz", ns=ns, lam=bifs[0].lam,
             p_sep=np.array([b.p_sep for b in bifs]),
             norm_median=np.array([b.norm_median for b in bifs]),
             lam_c_psep=[p.lam for p in pts_p], lam_c_psep_err=[p.precision for p in pts_p],
             lam_c_div=[p.lam for p in pts_d], lam_c_div_err=[p.precision for p in pts_d])
    print(f"wrote {out / 'bifurcation_diagram.png'} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
