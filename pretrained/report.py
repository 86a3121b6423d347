"""Print the table (README.md, docs/models.md) of the shipped models' measured figures, read from their metrics.json.

    python pretrained/report.py
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NAMES = ("mnist-vae", "mnist-mmd", "fashion-vae", "fashion-mmd")


def row(name: str) -> str:
    m = json.loads((ROOT / name / "metrics.json").read_text())
    e = m["evaluation"]
    t, iw, q, ap = e["test"], e["iw_nll"], e["quadrature_nll"], e["aggregate_posterior"]
    proposal = f"N(code, {e['proposal_scale']}²I)" if "proposal_scale" in e else r"q(z\|x)"
    return (f"| {name} | {t['neg_elbo']:.2f} ({t['recon']:.2f} + {t['kl']:.2f}) | "
            f"{iw['nll']:.2f} (k={iw['k']}, {iw['n']} images, {proposal}) | "
            f"{iw['quadrature_nll_same_images']:.2f} | {q['nll']:.2f} ({q['grid']}², {q['n']} images) | "
            f"{e['knn_accuracy']['accuracy']:.1%} | ({ap['mean'][0]:+.2f}, {ap['mean'][1]:+.2f}) | "
            f"{ap['cov_distance_to_identity']:.2f} | {ap['mmd_to_prior']:.4f} |")


print("| model | test −ELBO (recon + KL), nats | importance-weighted NLL | quadrature NLL, same images | "
      "quadrature NLL, whole test set | 5-NN accuracy | code mean | ‖cov − I‖ | MMD² to prior |")
print("|---|---|---|---|---|---|---|---|---|")
for name in NAMES:
    print(row(name))
