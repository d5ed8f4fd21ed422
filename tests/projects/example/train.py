"""A tiny training script for project tests: written for MLflow, run with mltrail."""

import argparse
import sys

import mltrail as mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=0.5)
parser.add_argument("--epochs", type=float, default=3)
parser.add_argument("--label", default="")
parser.add_argument("--data", default=None)
parser.add_argument("--fail", action="store_true")
args, unknown = parser.parse_known_args()

with mlflow.start_run() as run:
    loss = 1.0
    for step in range(int(args.epochs)):
        loss *= 1 - args.alpha / 2
        mlflow.log_metric("loss", loss, step=step)
    mlflow.set_tag("label", args.label)
    mlflow.set_tag("unknown_args", " ".join(unknown))
    if args.data:
        with open(args.data) as f:
            mlflow.log_metric("data_lines", len(f.read().splitlines()))
    if args.fail:
        sys.exit("training diverged")
