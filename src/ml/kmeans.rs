//! k-means clustering: greedy k-means++ seeding and Lloyd's iterations, the
//! best of `n_init` seeded runs kept, as scikit-learn's `KMeans` does.
//!
//! Seeding picks the first center at random, then each next one from
//! `2 + ln k` candidates drawn with probability proportional to the squared
//! distance to the nearest center so far, keeping the candidate that lowers
//! the total the most (scikit-learn's greedy k-means++). Lloyd's iterations
//! then assign every row to its nearest center and move each center to the
//! mean of its rows, until no row changes cluster or `max_iter` passes
//! (scikit-learn also stops once the centers move less than its `tol`,
//! which can leave a row or two on the wrong side: flowsql runs on until
//! the clusters settle).
//!
//! smartcore's `KMeans` (one plain k-means++ seeding, a BBD tree, no
//! `n_init`, centers not readable) was measured beside this one in
//! `benches/ml.rs`; see BENCHMARKS.md.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Training settings of k-means.
#[derive(Debug, Clone)]
pub struct KMeansOptions {
    /// Clusters.
    pub k: usize,
    /// Most Lloyd iterations per run.
    pub max_iter: usize,
    /// Seeded runs; the one with the lowest inertia is kept.
    pub n_init: usize,
    /// Random seed.
    pub seed: u64,
}

/// Fitted cluster centers over encoded features.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KMeansModel {
    /// One center per cluster, one coordinate per encoded column.
    pub centers: Vec<Vec<f64>>,
}

/// Rows, row by row (`width` numbers each), the layout distances scan.
struct Points {
    values: Vec<f64>,
    width: usize,
}

impl Points {
    fn new(columns: &[Vec<f64>], rows: usize) -> Self {
        let width = columns.len();
        let mut values = vec![0.0; rows * width];
        for (j, column) in columns.iter().enumerate() {
            for (row, v) in column.iter().enumerate() {
                values[row * width + j] = *v;
            }
        }
        Points { values, width }
    }

    fn rows(&self) -> usize {
        self.values.len() / self.width.max(1)
    }

    fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.width..(row + 1) * self.width]
    }
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The nearest of `centers` to `point` and its squared distance.
fn nearest(centers: &[Vec<f64>], point: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (c, center) in centers.iter().enumerate() {
        let d = squared_distance(center, point);
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

impl KMeansModel {
    /// Fits `options.k` centers to the rows of `columns`.
    pub fn fit(columns: &[Vec<f64>], options: &KMeansOptions) -> Result<Self> {
        let rows = columns.first().map_or(0, Vec::len);
        if options.k == 0 {
            return Err(Error::query("k => 0: give at least 1 cluster"));
        }
        if rows < options.k {
            return Err(Error::Data(format!(
                "{rows} rows cannot make {} clusters; train on more rows or lower k",
                options.k
            )));
        }
        if options.n_init == 0 || options.max_iter == 0 {
            return Err(Error::query("n_init and max_iter must be at least 1"));
        }
        let points = Points::new(columns, rows);
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut best: Option<(f64, Vec<Vec<f64>>)> = None;
        for _ in 0..options.n_init {
            let seeds = seed_centers(&points, options.k, &mut rng);
            let (inertia, centers) = lloyd(&points, seeds, options.max_iter);
            if best.as_ref().is_none_or(|(b, _)| inertia < *b) {
                best = Some((inertia, centers));
            }
        }
        let (_, centers) = best.expect("n_init is at least 1");
        Ok(KMeansModel { centers })
    }

    /// Each row's nearest center, and its squared distance to it: center
    /// by center, column by column (the layout PREDICT's batches come in).
    pub fn assign(&self, columns: &[Vec<f64>], rows: usize) -> (Vec<i64>, Vec<f64>) {
        let mut clusters = vec![0i64; rows];
        let mut best = vec![f64::INFINITY; rows];
        let mut distances = vec![0.0; rows];
        for (c, center) in self.centers.iter().enumerate() {
            distances.fill(0.0);
            for (column, x) in columns.iter().zip(center) {
                for (d, v) in distances.iter_mut().zip(column) {
                    *d += (v - x) * (v - x);
                }
            }
            for ((cluster, b), d) in clusters.iter_mut().zip(&mut best).zip(&distances) {
                if *d < *b {
                    (*cluster, *b) = (c as i64, *d);
                }
            }
        }
        (clusters, best)
    }

    /// The mean silhouette of rows `sample` clustered as `clusters`
    /// (scikit-learn's `silhouette_score`; 0 for a row alone in its cluster).
    pub fn silhouette(columns: &[Vec<f64>], clusters: &[i64], sample: &[usize]) -> f64 {
        let k = clusters.iter().copied().max().map_or(0, |m| m as usize + 1);
        let points = Points::new(columns, clusters.len());
        let mut total = 0.0;
        let mut sums = vec![0.0; k];
        let mut counts = vec![0usize; k];
        for &i in sample {
            sums.fill(0.0);
            counts.fill(0);
            for &j in sample {
                if i != j {
                    let c = clusters[j] as usize;
                    sums[c] += squared_distance(points.row(i), points.row(j)).sqrt();
                    counts[c] += 1;
                }
            }
            let own = clusters[i] as usize;
            if counts[own] == 0 {
                continue;
            }
            let a = sums[own] / counts[own] as f64;
            let b = (0..k)
                .filter(|c| *c != own && counts[*c] > 0)
                .map(|c| sums[c] / counts[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if b.is_finite() {
                total += (b - a) / a.max(b);
            }
        }
        total / sample.len().max(1) as f64
    }

    /// Checks a model read from a file against `width` encoded features.
    pub fn check(&self, width: usize) -> std::result::Result<(), String> {
        if self.centers.is_empty() {
            return Err("it has no cluster centers".into());
        }
        if self.centers.iter().any(|c| c.len() != width) {
            return Err(format!("its centers do not have {width} coordinates"));
        }
        Ok(())
    }
}

/// Greedy k-means++: `k` rows of `points` as first centers.
fn seed_centers(points: &Points, k: usize, rng: &mut StdRng) -> Vec<Vec<f64>> {
    let rows = points.rows();
    let trials = 2 + (k as f64).ln() as usize;
    let mut centers = vec![points.row(rng.random_range(0..rows)).to_vec()];
    let mut closest: Vec<f64> = (0..rows)
        .map(|r| squared_distance(points.row(r), &centers[0]))
        .collect();
    while centers.len() < k {
        let potential: f64 = closest.iter().sum();
        // The candidate that lowers the total most: (total, row, distances).
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            let candidate = if potential > 0.0 {
                let target = rng.random::<f64>() * potential;
                let mut cumulative = 0.0;
                closest
                    .iter()
                    .position(|d| {
                        cumulative += d;
                        cumulative > target
                    })
                    .unwrap_or(rows - 1)
            } else {
                rng.random_range(0..rows)
            };
            let point = points.row(candidate);
            let distances: Vec<f64> = (0..rows)
                .map(|r| closest[r].min(squared_distance(points.row(r), point)))
                .collect();
            let total: f64 = distances.iter().sum();
            if best.as_ref().is_none_or(|(b, _, _)| total < *b) {
                best = Some((total, candidate, distances));
            }
        }
        let (_, row, distances) = best.expect("at least two trials");
        centers.push(points.row(row).to_vec());
        closest = distances;
    }
    centers
}

/// Lloyd's iterations from `centers`: the inertia and the centers reached.
fn lloyd(points: &Points, mut centers: Vec<Vec<f64>>, max_iter: usize) -> (f64, Vec<Vec<f64>>) {
    let rows = points.rows();
    let width = points.width;
    let k = centers.len();
    let mut labels = vec![usize::MAX; rows];
    let mut sums = vec![0.0; k * width];
    let mut counts = vec![0usize; k];
    for _ in 0..max_iter {
        sums.fill(0.0);
        counts.fill(0);
        let mut changed = false;
        for (row, label) in labels.iter_mut().enumerate() {
            let point = points.row(row);
            let (c, _) = nearest(&centers, point);
            changed |= *label != c;
            *label = c;
            counts[c] += 1;
            for (s, v) in sums[c * width..(c + 1) * width].iter_mut().zip(point) {
                *s += v;
            }
        }
        if !changed {
            break;
        }
        for (c, center) in centers.iter_mut().enumerate() {
            // An empty cluster keeps its center.
            if counts[c] == 0 {
                continue;
            }
            for (j, value) in center.iter_mut().enumerate() {
                *value = sums[c * width + j] / counts[c] as f64;
            }
        }
    }
    // The inertia of the final centers (scikit-learn reassigns once more too).
    let inertia = (0..rows)
        .map(|row| nearest(&centers, points.row(row)).1)
        .sum();
    (inertia, centers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_blobs_are_found() {
        // Three tight groups on a line.
        let x: Vec<f64> = (0..30)
            .map(|i| f64::from(i / 10) * 100.0 + f64::from(i % 10) * 0.01)
            .collect();
        let options = KMeansOptions {
            k: 3,
            max_iter: 100,
            n_init: 3,
            seed: 7,
        };
        let model = KMeansModel::fit(std::slice::from_ref(&x), &options).unwrap();
        let (clusters, distances) = model.assign(std::slice::from_ref(&x), 30);
        for group in clusters.chunks(10) {
            assert!(group.iter().all(|c| *c == group[0]));
        }
        let mut firsts: Vec<i64> = clusters.chunks(10).map(|g| g[0]).collect();
        firsts.sort();
        firsts.dedup();
        assert_eq!(firsts.len(), 3);
        assert!(distances.iter().all(|d| *d < 0.01));
        let sample: Vec<usize> = (0..30).collect();
        assert!(KMeansModel::silhouette(&[x], &clusters, &sample) > 0.99);
    }

    #[test]
    fn too_few_rows_is_an_error() {
        let options = KMeansOptions {
            k: 3,
            max_iter: 10,
            n_init: 1,
            seed: 0,
        };
        assert!(KMeansModel::fit(&[vec![1.0, 2.0]], &options).is_err());
    }
}
