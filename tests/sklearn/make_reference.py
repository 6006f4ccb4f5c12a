"""Reference figures from scikit-learn for tests/ml_round2.rs.

CI does not run this: its output, data/sklearn_reference.json, is checked in.
Run it again with `pip install scikit-learn numpy` and
`python3 tests/sklearn/make_reference.py` (from the repository root).

The data sets are the ones smartcore ships (its `dataset` module), which hold
scikit-learn's in scikit-learn's row order as float32: the features are cast
to float32 here too, so both sides fit exactly the same numbers. smartcore's
iris is the UCI original, which differs from scikit-learn's in rows 35 and 38
(scikit-learn corrected them): those two rows are set back here. The sum of
every feature value is written too (of their magnitudes for diabetes, whose
columns are centered), so the test checks it has the same data.
"""
import json

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score

MASK64 = np.uint64((1 << 64) - 1)


def f32(x):
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def standardized(x):
    """(x - mean) / std with the population std, column by column."""
    return (x - x.mean(axis=0)) / x.std(axis=0)


def logistic(x, y, l2):
    """The exact optimum (tolerances far below the test's 1e-4)."""
    model = LogisticRegression(C=1.0 / l2, tol=1e-12, max_iter=100_000).fit(x, y)
    return {
        "l2": l2,
        "coefficients": model.coef_.tolist(),
        "intercepts": model.intercept_.tolist(),
        "accuracy": float(model.score(x, y)),
        "probabilities": model.predict_proba(x).max(axis=1).tolist(),
    }


def uniform(seed, n):
    """SplitMix64 -> [0, 1), as tests/ml_round2.rs generates it."""
    with np.errstate(over="ignore"):
        state = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def blobs(rows, dims, centers):
    """Row i belongs to blob i % centers, whose center is 10 * uniform in
    each dimension; each coordinate is the center plus a uniform offset in
    [-1, 1) (a sum of two uniforms, so the blobs are rounded boxes)."""
    centres = uniform(1000, centers * dims).reshape(centers, dims) * 10.0
    blob = np.arange(rows) % centers
    x = np.empty((rows, dims))
    for d in range(dims):
        noise = uniform(d + 1, rows) + uniform(d + 101, rows) - 1.0
        x[:, d] = centres[blob, d] + noise
    return x


def kmeans(x, k, silhouette=False):
    """The inertia of KMeans(n_init=10) over five seeds, and the silhouette
    of the best one's clusters."""
    fits = [KMeans(n_clusters=k, n_init=10, random_state=s).fit(x) for s in range(5)]
    best = min(fits, key=lambda f: f.inertia_)
    out = {"k": k, "inertia": float(best.inertia_), "inertia_max": float(max(f.inertia_ for f in fits))}
    if silhouette:
        out["silhouette"] = float(silhouette_score(x, best.labels_))
    return out


def boosting(x, y, classify):
    """HistGradientBoosting* with its defaults (100 rounds, learning rate
    0.1, 31 leaves, 20 rows per leaf; no early stopping below 10,000 rows)
    scored on five folds: fold f tests the rows with row number % 5 == f and
    trains on the rest. Accuracy for classifiers, R² for regressors."""
    rows = np.arange(len(y))
    scores = []
    for fold in range(5):
        test = rows % 5 == fold
        model = HistGradientBoostingClassifier() if classify else HistGradientBoostingRegressor()
        model.fit(x[~test], y[~test])
        scores.append(float(model.score(x[test], y[test])))
    return {"scores": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores))}


if __name__ == "__main__":
    cancer = load_breast_cancer()
    cancer_x = standardized(f32(cancer.data))
    iris = load_iris()
    iris_x = f32(iris.data)
    iris_x[34] = f32([4.9, 3.1, 1.5, 0.1])
    iris_x[37] = f32([4.9, 3.1, 1.5, 0.1])
    reference = {
        "logistic_breast_cancer_scaled": logistic(cancer_x, cancer.target, 1.0),
        "logistic_breast_cancer_scaled_l2_10": logistic(cancer_x, cancer.target, 10.0),
        "logistic_iris": logistic(iris_x, iris.target, 1.0),
        "kmeans_iris": kmeans(iris_x, 3, silhouette=True),
        "kmeans_blobs_1m": {**kmeans(blobs(1_000_000, 10, 8), 8), "rows": 1_000_000, "dims": 10},
        "gbt_breast_cancer": boosting(f32(cancer.data), cancer.target, True),
        "gbt_digits": boosting(f32(load_digits().data), load_digits().target, True),
        "gbt_diabetes": boosting(f32(load_diabetes().data), load_diabetes().target, False),
        "sums": {
            "breast_cancer": float(f32(cancer.data).sum()),
            "iris": float(iris_x.sum()),
            "digits": float(f32(load_digits().data).sum()),
            "diabetes": float(np.abs(f32(load_diabetes().data)).sum()),
        },
    }
    with open("data/sklearn_reference.json", "w") as out:
        json.dump(reference, out, indent=1)
        out.write("\n")
