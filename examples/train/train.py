"""Fit y = w*x + b by gradient descent with an L2 penalty ``alpha``; log params, loss curve and weights.

Run it through the project (``mltrail run examples/train -P alpha=0.2``), which
creates the run this script's ``start_run()`` resumes, or directly with
``python train.py --alpha 0.2``. Plain Python: no extra packages needed.
"""

from __future__ import annotations

import argparse
import random

import mltrail as mlflow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=0.5, help="L2 penalty on the weight")
    parser.add_argument("--epochs", type=float, default=50)
    args = parser.parse_args()

    rng = random.Random(0)
    xs = [rng.uniform(-1, 1) for _ in range(200)]
    data = [(x, 3.0 * x + 0.5 + rng.gauss(0, 0.1)) for x in xs]
    w = b = 0.0
    learning_rate = 0.5

    with mlflow.start_run():  # under `mltrail run`, this is the project's run
        mlflow.log_params({"learning_rate": learning_rate, "samples": len(data)})
        for epoch in range(int(args.epochs)):
            grad_w = sum((w * x + b - y) * x for x, y in data) / len(data) + args.alpha * w
            grad_b = sum(w * x + b - y for x, y in data) / len(data)
            w -= learning_rate * grad_w
            b -= learning_rate * grad_b
            mse = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
            mlflow.log_metric("mse", mse, step=epoch)
        mlflow.log_dict({"w": w, "b": b}, "weights.json")
        print(f"alpha={args.alpha}: w={w:.3f} b={b:.3f} mse={mse:.4f}")


if __name__ == "__main__":
    main()
