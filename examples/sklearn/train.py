"""Train the example model: a logistic regression on the iris data that ships with scikit-learn.

Run it once before starting the server; it writes model/model.joblib next to this file, or into
the folder given as its first argument.
"""

import sys
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main(out: Path) -> Path:
    """Fit the model and save it where score.py's init() looks for it."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.joblib"
    joblib.dump(model, path)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "model")
