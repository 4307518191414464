"""Grokking on real data: scikit-learn's breast-cancer set at and far from its threshold.

The paper's mechanism needs a training set that sits just below its separability
threshold. Here the points are real: the 10 "mean" features of the benign tumours of
`sklearn.datasets.load_breast_cancer` (357 samples), standardized and scaled by 5 (the
paper's $\\sigma = 5$; the scale sets how long the bias takes to win), all labelled
$+1$ as in the paper's reduced model; the held-out benign tumours are the test set. A
bisection over nested subsamples (one random order, seed 0) finds the smallest $n_c$
at which the points stop being separable from the origin: $n = n_c$ is just below the
threshold, $n = 4n_c$ far below it. `gradflow.asymptotics` gives the late state
beside the curves (`bias_separable`: $w \\to w^*$, $b - \\log t \\to \\log\\tilde L^*$,
test accuracy 1).

For contrast, the usual two-class problem (benign against malignant, same features,
standardized) at its own threshold (the extended points $(y_ix_i, y_i)$,
`regime == "inseparable"` just below it) has a finite maximum-likelihood fit: the flow
settles there and does not grok.

Full size (default): flow to $t = 10^{12}$ (two-class: 40 e-foldings of its slowest
rate), about 30 s on 2 idle cores. `--quick`: flow to $t = 10^5$ (a smoke test).

Run: `python examples/real_data_grokking.py --out figures/`.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gradflow as gf

SCALE = 5.0
D = 10
SEED = 0


def _data():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = data.data[:, :D]
    return x, data.target  # target 1 = benign


def _standard(x):
    return (x - x.mean(axis=0)) / x.std(axis=0)


def _threshold(make, count: int, low: int, *, extended: bool) -> int:
    """The smallest n whose first n points are inseparable (`gf.separability`; of the
    extended points $(y_ix_i, y_i)$ if `extended`). Bisection: separability of nested
    subsets can only be lost as n grows."""
    lo, hi = low, count
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if gf.separability(make(mid), extended=extended).separable:
            lo = mid
        else:
            hi = mid
    return hi


def _summary(traj) -> dict:
    t = np.asarray(traj.t)
    test_acc = np.asarray(traj.test_accuracy)
    test_loss = np.asarray(traj.test_loss)
    reached = np.flatnonzero(test_acc >= 0.99)
    return dict(
        t_train_acc_1=traj.first_time("train_accuracy", 1.0),
        t_test_acc_099=float(t[reached[0]]) if reached.size else float("nan"),
        test_acc_at_train_fit=float(np.interp(traj.first_time("train_accuracy", 1.0), t,
                                              test_acc)) if np.any(
            np.asarray(traj.train_accuracy) >= 1.0) else float("nan"),
        test_loss_peak=float(test_loss.max()),
        t_test_loss_min=float(t[np.argmin(test_loss)]),
        final_train_accuracy=float(traj.train_accuracy[-1]),
        final_test_accuracy=float(test_acc[-1]),
        max_test_accuracy=float(test_acc.max()),
        t_end=float(t[-1]),
    )


def _figure(runs, title):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.2 * len(runs) + 0.6))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.06, hspace=0.45)
    axs = fig.subplots(len(runs), 2, squeeze=False)
    for (label, traj, note), (ax_loss, ax_acc) in zip(runs, axs, strict=True):
        t = np.asarray(traj.t)
        ax_loss.loglog(t, np.asarray(traj.train_loss), "C0", label="train")
        ax_loss.loglog(t, np.asarray(traj.test_loss), "C1", label="held-out test")
        ax_acc.semilogx(t, np.asarray(traj.train_accuracy), "C0", label="train")
        ax_acc.semilogx(t, np.asarray(traj.test_accuracy), "C1", label="held-out test")
        ax_loss.set_title(f"{label}: loss")
        ax_acc.set_title(f"{label}: accuracy")
        ax_acc.set_ylim(-0.02, 1.02)
        ax_acc.text(0.02, 0.05, note, transform=ax_acc.transAxes, fontsize="small")
        for ax in (ax_loss, ax_acc):
            ax.set_xlabel("$t$")
            ax.legend(fontsize="small", loc="center right")
    fig.suptitle(title)
    return fig


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="output directory (default: .)")
    parser.add_argument("--quick", action="store_true", help="short flows (smoke test)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    t_max = 1e5 if args.quick else 1e12
    x, target = _data()

    # the paper's model on real points: the benign tumours, all labelled +1
    benign = SCALE * _standard(x[target == 1])
    order = np.random.default_rng(SEED).permutation(len(benign))

    def reduced(n):
        rest = benign[order[n:]]
        return gf.Problem(benign[order[:n]], x_test=rest)

    n_c = _threshold(reduced, len(benign) - 50, D + 1, extended=False)

    # the two-class problem at its own threshold (the extended points)
    both = _standard(x)
    order2 = np.random.default_rng(SEED).permutation(len(both))

    def two_class(n):
        return gf.Problem(both[order2[:n]], target[order2[:n]],
                          x_test=both[order2[n:]], y_test=target[order2[n:]])

    n_c2 = _threshold(two_class, len(both) - 50, D + 1, extended=True)

    runs, summary = [], {}
    cases = [("benign, n = n_c", reduced(n_c)), ("benign, n = 4 n_c", reduced(4 * n_c)),
             ("two classes, n = n_c", two_class(n_c2))]
    for label, problem in cases:
        asy = gf.asymptotics(problem)
        if asy.regime == "inseparable":
            t_end = t_max if args.quick else 40.0 / float(asy.analysis.rates[0])
            note = (f"{asy.regime}: θ → MLE (|w*| = {np.linalg.norm(asy.w_star):.3g}), "
                    f"test acc → {asy.test_accuracy:.3f}")
        else:
            t_end = t_max
            note = (f"{asy.regime}: w → w*, b − log t → {asy.b_offset:.3f}, "
                    f"test acc → {asy.test_accuracy:.3f}")
        traj = gf.integrate(problem, t_end, saveat=np.geomspace(1e-2, t_end, 120))
        s = _summary(traj)
        s.update(n=problem.n, lam=problem.lam, regime=asy.regime,
                 limit_test_accuracy=float(asy.test_accuracy))
        summary[label] = s
        runs.append((f"{label} = {problem.n} (λ = {problem.lam:.3f})", traj, note))

    fig = _figure(runs, f"Breast-cancer features (d = {D}): gradient flow, train and "
                        "held-out test")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in ("png", "pdf"):
        path = out / f"real_data_grokking.{fmt}"
        fig.savefig(path, dpi=130 if fmt == "png" else None)
        paths.append(path)
    print(f"{'case':>22} {'n':>4} {'regime':>15} {'t(train acc=1)':>15} "
          f"{'test acc then':>13} {'t(test acc>=.99)':>17} {'max test acc':>12} "
          f"{'final test acc':>15}")
    for label, s in summary.items():
        print(f"{label:>22} {s['n']:>4} {s['regime']:>15} {s['t_train_acc_1']:>15.3g} "
              f"{s['test_acc_at_train_fit']:>13.3f} {s['t_test_acc_099']:>17.3g} "
              f"{s['max_test_accuracy']:>12.3f} {s['final_test_accuracy']:>15.3f}")
    print(f"wrote {', '.join(str(p) for p in paths)} in {time.perf_counter() - start:.1f} s")
    return dict(summary=summary, paths=paths, n_c=n_c, n_c_two_class=n_c2)


if __name__ == "__main__":
    main()
