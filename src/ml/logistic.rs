//! Logistic regression, binary and multinomial, with L2 on the
//! coefficients (not the intercepts): scikit-learn's `LogisticRegression`
//! with `C = 1 / l2`, the same objective (the log-loss summed over rows plus
//! `l2 / 2 · ‖w‖²`) solved to its optimum.
//!
//! The solver is Newton's method with a backtracking line search: each
//! step solves the Hessian (by Cholesky) for the gradient. The objective is
//! convex and smooth, so it converges in a handful of steps, quadratically
//! at the end. Rows are taken in blocks of [`BLOCK_ROWS`]; per block the
//! gradient is `(P − Y)ᵀZ` and each Hessian block `Zᵀ diag(w) Z`, matrix
//! products of the block's design matrix `Z = [X | 1]`.
//!
//! smartcore's `LogisticRegression` (L-BFGS on the same objective) was the
//! first candidate: it reaches scikit-learn's coefficients on a binary
//! problem but stops 0.6 % short of the multinomial optimum on iris, and is
//! slower (BENCHMARKS.md, "models, round 2").
//!
//! Binary models hold one row of coefficients, for the second class
//! (`P(class 1) = σ(b + w·x)`); multinomial models hold one row per class
//! (`P(k) = softmax(b_k + w_k·x)`). Multinomial intercepts are determined
//! up to a shared constant; starting from zero, Newton's steps keep their
//! sum at zero.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Rows per block of the gradient and Hessian sums.
const BLOCK_ROWS: usize = 4096;

/// Most Newton steps; the optimum is reached in far fewer unless the
/// classes are separable and nothing penalizes the coefficients.
const MAX_STEPS: usize = 100;

/// A fitted logistic regression over encoded features.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogisticModel {
    /// One row per class (binary: one row, for class 1), one coefficient
    /// per encoded feature column.
    pub coefficients: Vec<Vec<f64>>,
    /// One intercept per row of coefficients.
    pub intercepts: Vec<f64>,
}

impl LogisticModel {
    /// Fits class indices `y` (below `classes`, at least 2) on `columns`.
    pub fn fit(columns: &[Vec<f64>], y: &[u32], classes: usize, l2: f64) -> Result<Self> {
        if classes < 2 {
            return Err(Error::Data(
                "the label has one class; a classifier needs at least two".into(),
            ));
        }
        let problem = Problem {
            columns,
            y,
            outputs: if classes == 2 { 1 } else { classes },
            l2,
        };
        let width = problem.width();
        let mut parameters = DVector::<f64>::zeros(problem.outputs * width);
        let mut converged = false;
        for _ in 0..MAX_STEPS {
            let (loss, gradient, mut hessian) = problem.evaluate(&parameters, true);
            // The shared shift of multinomial intercepts is a flat
            // direction: a tiny ridge there keeps the Hessian invertible
            // without moving the optimum (the gradient has no part in it).
            for k in 0..problem.outputs {
                let at = k * width + width - 1;
                hessian[(at, at)] += 1e-10 * y.len() as f64;
            }
            let Some(cholesky) = hessian.cholesky() else {
                break;
            };
            let step = cholesky.solve(&gradient);
            let decrement = gradient.dot(&step);
            if !decrement.is_finite() {
                break;
            }
            // Converged: the Newton decrement (twice the predicted
            // decrease of the loss) is at the rounding level of a sum over
            // all rows.
            if decrement <= 1e-14 * (1.0 + loss.abs()) {
                converged = true;
                break;
            }
            let mut t = 1.0;
            let mut moved = false;
            for _ in 0..60 {
                let candidate = &parameters - &step * t;
                let (trial, _, _) = problem.evaluate(&candidate, false);
                if trial <= loss - 1e-4 * t * decrement {
                    parameters = candidate;
                    moved = true;
                    break;
                }
                t /= 2.0;
            }
            if !moved {
                // No step lowers the loss any more: as close as doubles get.
                converged = true;
                break;
            }
        }
        let rows: Vec<&[f64]> = parameters.as_slice().chunks(width).collect();
        let model = LogisticModel {
            coefficients: rows.iter().map(|r| r[..width - 1].to_vec()).collect(),
            intercepts: rows.iter().map(|r| r[width - 1]).collect(),
        };
        if converged && model.is_finite() {
            Ok(model)
        } else {
            Err(Error::Data(
                "logistic regression did not converge (the classes may be separable); \
                 add l2 => 1.0"
                    .into(),
            ))
        }
    }

    fn is_finite(&self) -> bool {
        self.intercepts.iter().all(|v| v.is_finite())
            && self.coefficients.iter().flatten().all(|v| v.is_finite())
    }

    /// How many classes it tells apart.
    pub fn classes(&self) -> usize {
        match self.coefficients.len() {
            1 => 2,
            k => k,
        }
    }

    /// The score `b_k + w_k·x` of each row of coefficients, per row.
    fn scores(&self, columns: &[Vec<f64>], rows: usize) -> Vec<Vec<f64>> {
        self.coefficients
            .iter()
            .zip(&self.intercepts)
            .map(|(weights, intercept)| {
                let mut out = vec![*intercept; rows];
                for (column, w) in columns.iter().zip(weights) {
                    for (o, v) in out.iter_mut().zip(column) {
                        *o += w * v;
                    }
                }
                out
            })
            .collect()
    }

    /// Each row's most probable class and its probability.
    pub fn predict(&self, columns: &[Vec<f64>], rows: usize) -> (Vec<i64>, Vec<f64>) {
        let scores = self.scores(columns, rows);
        if let [score] = scores.as_slice() {
            return score
                .iter()
                .map(|z| {
                    let p = 1.0 / (1.0 + (-z).exp());
                    if p > 0.5 {
                        (1, p)
                    } else {
                        (0, 1.0 - p)
                    }
                })
                .unzip();
        }
        (0..rows)
            .map(|row| {
                let (best, top) =
                    scores
                        .iter()
                        .enumerate()
                        .fold((0, f64::NEG_INFINITY), |(b, top), (k, s)| {
                            if s[row] > top {
                                (k, s[row])
                            } else {
                                (b, top)
                            }
                        });
                // softmax of the best: 1 / Σ exp(s_k - s_best).
                let total: f64 = scores.iter().map(|s| (s[row] - top).exp()).sum();
                (best as i64, 1.0 / total)
            })
            .unzip()
    }

    /// Checks a model read from a file against `width` encoded features.
    pub fn check(&self, width: usize) -> std::result::Result<(), String> {
        if self.coefficients.is_empty() || self.coefficients.len() != self.intercepts.len() {
            return Err("its coefficients and intercepts do not match".into());
        }
        if self.coefficients.len() == 2 {
            return Err("a binary model holds one row of coefficients".into());
        }
        if let Some(row) = self.coefficients.iter().find(|r| r.len() != width) {
            return Err(format!(
                "it has {} coefficients for {width} encoded features",
                row.len()
            ));
        }
        Ok(())
    }
}

/// The data and settings of one fit.
struct Problem<'a> {
    columns: &'a [Vec<f64>],
    y: &'a [u32],
    /// Rows of coefficients: 1 (binary) or the number of classes.
    outputs: usize,
    l2: f64,
}

impl Problem<'_> {
    /// Parameters per output: the coefficients, then the intercept.
    fn width(&self) -> usize {
        self.columns.len() + 1
    }

    /// The penalized loss at `parameters`, its gradient and (when asked)
    /// its Hessian.
    fn evaluate(
        &self,
        parameters: &DVector<f64>,
        derivatives: bool,
    ) -> (f64, DVector<f64>, DMatrix<f64>) {
        let (width, outputs) = (self.width(), self.outputs);
        let size = outputs * width;
        // Row k of `weights` is output k's coefficients and intercept.
        let weights = DMatrix::from_row_slice(outputs, width, parameters.as_slice());
        let mut loss = 0.0;
        let mut gradient = DMatrix::<f64>::zeros(outputs, width);
        let mut hessian = DMatrix::<f64>::zeros(if derivatives { size } else { 0 }, size);
        let rows = self.y.len();
        for start in (0..rows).step_by(BLOCK_ROWS) {
            let end = (start + BLOCK_ROWS).min(rows);
            let n = end - start;
            // The block's design matrix [X | 1], column-major.
            let mut z = DMatrix::<f64>::from_element(n, width, 1.0);
            for (j, column) in self.columns.iter().enumerate() {
                z.column_mut(j).copy_from_slice(&column[start..end]);
            }
            let scores = &z * weights.transpose();
            // residual = P − Y, per row and output.
            let mut residual = DMatrix::<f64>::zeros(n, outputs);
            // Hessian weights: per row, P(k)(δ_kl − P(l)) for k ≤ l.
            let mut curvature: Vec<Vec<f64>> = Vec::new();
            if outputs == 1 {
                for i in 0..n {
                    let s = scores[(i, 0)];
                    let label = f64::from(self.y[start + i]);
                    loss += s.max(0.0) + (-s.abs()).exp().ln_1p() - label * s;
                    let p = 1.0 / (1.0 + (-s).exp());
                    residual[(i, 0)] = p - label;
                }
                if derivatives {
                    curvature.push(
                        (0..n)
                            .map(|i| {
                                let p = residual[(i, 0)] + f64::from(self.y[start + i]);
                                p * (1.0 - p)
                            })
                            .collect(),
                    );
                }
            } else {
                let mut probabilities = DMatrix::<f64>::zeros(n, outputs);
                for i in 0..n {
                    let top = (0..outputs)
                        .map(|k| scores[(i, k)])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let total: f64 = (0..outputs).map(|k| (scores[(i, k)] - top).exp()).sum();
                    let label = self.y[start + i] as usize;
                    loss += top + total.ln() - scores[(i, label)];
                    for k in 0..outputs {
                        let p = (scores[(i, k)] - top).exp() / total;
                        probabilities[(i, k)] = p;
                        residual[(i, k)] = p - f64::from(u8::from(k == label));
                    }
                }
                if derivatives {
                    for k in 0..outputs {
                        for l in k..outputs {
                            curvature.push(
                                (0..n)
                                    .map(|i| {
                                        let (pk, pl) =
                                            (probabilities[(i, k)], probabilities[(i, l)]);
                                        if k == l {
                                            pk * (1.0 - pk)
                                        } else {
                                            -pk * pl
                                        }
                                    })
                                    .collect(),
                            );
                        }
                    }
                }
            }
            if !derivatives {
                continue;
            }
            gradient += residual.transpose() * &z;
            let mut pairs = curvature.iter();
            for k in 0..outputs {
                for l in k..outputs {
                    let w = pairs.next().expect("one weight vector per pair");
                    let mut scaled = z.clone();
                    for mut column in scaled.column_iter_mut() {
                        for (v, w) in column.iter_mut().zip(w) {
                            *v *= w;
                        }
                    }
                    let block = z.tr_mul(&scaled);
                    let mut upper = hessian.view_mut((k * width, l * width), (width, width));
                    upper += &block;
                    if k != l {
                        let mut lower = hessian.view_mut((l * width, k * width), (width, width));
                        lower += block.transpose();
                    }
                }
            }
        }
        // The penalty on the coefficients (not the intercepts).
        let mut flat = DVector::<f64>::zeros(size);
        for k in 0..outputs {
            for j in 0..width {
                let at = k * width + j;
                if j + 1 < width {
                    let w = parameters[at];
                    loss += 0.5 * self.l2 * w * w;
                    if derivatives {
                        gradient[(k, j)] += self.l2 * w;
                        hessian[(at, at)] += self.l2;
                    }
                }
                if derivatives {
                    flat[at] = gradient[(k, j)];
                }
            }
        }
        (loss, flat, hessian)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_follow_the_scores() {
        let binary = LogisticModel {
            coefficients: vec![vec![2.0]],
            intercepts: vec![-1.0],
        };
        let (classes, p) = binary.predict(&[vec![0.0, 1.0, 0.5]], 3);
        assert_eq!(classes, vec![0, 1, 0]);
        assert!((p[0] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-15);
        assert!((p[1] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-15);
        assert!((p[2] - 0.5).abs() < 1e-15);
        let three = LogisticModel {
            coefficients: vec![vec![1.0], vec![0.0], vec![-1.0]],
            intercepts: vec![0.0; 3],
        };
        let (classes, p) = three.predict(&[vec![2.0, -2.0]], 2);
        assert_eq!(classes, vec![0, 2]);
        let expected = 1.0 / (1.0 + (-2.0f64).exp() + (-4.0f64).exp());
        assert!((p[0] - expected).abs() < 1e-15 && (p[1] - expected).abs() < 1e-15);
    }

    #[test]
    fn one_class_is_an_error() {
        assert!(LogisticModel::fit(&[vec![1.0, 2.0]], &[0, 0], 1, 1.0).is_err());
    }
}
