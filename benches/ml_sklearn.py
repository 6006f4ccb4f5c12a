"""scikit-learn on the same data as benches/ml.rs, for the same-run comparison.

Installs nothing: run `pip install scikit-learn numpy` first, then
`python3 benches/ml_sklearn.py`. Prints fit/predict times (best of 5, one
job) and accuracies, to put beside `cargo bench --bench ml`.
"""
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression

MASK64 = (1 << 64) - 1


def uniform(seed, n):
    """SplitMix64 -> [0, 1), as in benches/ml.rs."""
    state = seed
    out = np.empty(n)
    for i in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out[i] = ((z ^ (z >> 31)) >> 11) / float(1 << 53)
    return out


def data(rows, classify):
    cols = [uniform(c + 1, rows) for c in range(5)]
    y = 3 + 2 * cols[0] - cols[1] + 0.5 * cols[2] + 0.25 * cols[3] + 0.1 * (cols[4] - 0.5)
    if classify:
        y = (y > 3.9).astype(np.int64)
    return np.column_stack(cols[:4]), y


def uniform_fast(seed, n):
    """uniform(), vectorized (the same numbers)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def logistic_data(rows):
    """benches/ml.rs logistic_columns."""
    cols = [uniform_fast(c + 11, rows) for c in range(10)]
    noise = uniform_fast(50, rows)
    score = sum((j + 1) / 10 * (1 if j % 2 == 0 else -1) * (cols[j] - 0.5) for j in range(10))
    y = (score + 0.3 * (noise - 0.5) > 0).astype(np.int64)
    return np.column_stack(cols), y


def blobs(rows, dims, centers):
    """benches/ml.rs blob_columns."""
    centres = uniform_fast(1000, centers * dims).reshape(centers, dims) * 10.0
    blob = np.arange(rows) % centers
    return np.column_stack([
        centres[blob, d] + uniform_fast(d + 1, rows) + uniform_fast(d + 101, rows) - 1.0
        for d in range(dims)
    ])


def best(f, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - start)
    return min(times), result


if __name__ == "__main__":
    X, y = data(1_000_000, False)
    fit, model = best(lambda: LinearRegression().fit(X, y))
    predict, _ = best(lambda: model.predict(X))
    print(f"linear fit 1M x 4: {fit * 1000:.1f} ms; predict 1M: {predict * 1000:.1f} ms "
          f"({1e6 / predict / 1e6:.1f} M rows/s); r2 {model.score(X, y):.6f}")
    X, y = data(100_000, True)
    fit, forest = best(lambda: RandomForestClassifier(n_estimators=100, max_depth=8, n_jobs=1, random_state=1).fit(X, y), repeat=2)
    print(f"random forest fit 100k x 4, 100 trees, depth 8, one job: {fit:.2f} s; "
          f"training accuracy {forest.score(X, y):.4f}")
    X, y = logistic_data(1_000_000)
    fit, model = best(lambda: LogisticRegression(C=1.0).fit(X, y), repeat=3)
    predict, _ = best(lambda: model.predict_proba(X))
    print(f"logistic fit 1M x 10 (lbfgs, C = 1): {fit:.2f} s; predict_proba 1M: "
          f"{predict * 1000:.1f} ms; training accuracy {model.score(X, y):.6f}")
    X = blobs(1_000_000, 10, 8)
    fit, model = best(lambda: KMeans(n_clusters=8, n_init=1, random_state=1).fit(X), repeat=3)
    predict, _ = best(lambda: model.predict(X))
    print(f"k-means fit 1M x 10, k = 8, n_init 1: {fit:.2f} s; predict 1M: "
          f"{predict * 1000:.1f} ms; inertia {model.inertia_:.1f}")
    X, y = logistic_data(1_000_000)
    gbt = HistGradientBoostingClassifier(max_iter=100, max_depth=6, max_leaf_nodes=None,
                                         min_samples_leaf=20, early_stopping=False)
    fit, model = best(lambda: gbt.fit(X[:100_000], y[:100_000]), repeat=3)
    predict, _ = best(lambda: model.predict_proba(X), repeat=3)
    print(f"HistGradientBoosting fit 100k x 10, 100 trees, depth 6: {fit:.2f} s; predict_proba 1M: "
          f"{predict * 1000:.1f} ms ({1e6 / predict / 1e6:.2f} M rows/s); training accuracy "
          f"{model.score(X[:100_000], y[:100_000]):.6f}")
