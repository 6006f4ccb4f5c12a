"""scikit-learn on the same data as benches/ml.rs, for the same-run comparison.

Installs nothing: run `pip install scikit-learn numpy` first, then
`python3 benches/ml_sklearn.py`. Prints fit/predict times (best of 5, one
job) and accuracies, to put beside `cargo bench --bench ml`.
"""
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

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
