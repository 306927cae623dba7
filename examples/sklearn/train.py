"""Train the example model: a logistic regression on the iris data that ships with scikit-learn.

Run it once before starting the server; it writes model/model.joblib next to this file.
"""

from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def main() -> Path:
    """Fit the model and save it where score.py's init() looks for it."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    out = Path(__file__).parent / "model"
    out.mkdir(exist_ok=True)
    path = out / "model.joblib"
    joblib.dump(model, path)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    main()
