//! Linear regression: exact least squares, with optional L2 (ridge) and
//! intercept.
//!
//! The solver is Householder QR (nalgebra's) of the design matrix with the
//! target appended as a last column, `[X | y] = Q [R c; 0 ρ]`, then
//! back-substitution of `R b = c`: exact least squares, with `c = Qᵀy`
//! computed without forming Q. QR is used instead of the normal equations
//! (`XᵀX b = Xᵀy`) because forming `XᵀX` squares the condition number; with
//! QR the result is exact least squares to machine precision even for
//! badly scaled features.
//!
//! The QR is taken block by block (a "tall-skinny QR"): each block of rows
//! is stacked under the triangle of the blocks before it and factored
//! again. Only a block is ever materialized, so the work stays in cache and
//! no copy of the whole design matrix is made; the result is the same
//! triangle up to signs. Ridge is solved the same way with a last block of
//! `sqrt(l2)·I` rows (the intercept is not penalized).

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Rows per block of the blocked QR: big enough to amortize the triangle
/// stacked on top, small enough to stay in cache.
const BLOCK_ROWS: usize = 4096;

/// A fitted linear model over encoded features.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinearModel {
    /// One coefficient per encoded feature column.
    pub coefficients: Vec<f64>,
    /// The intercept (0 without `fit_intercept`).
    pub intercept: f64,
}

impl LinearModel {
    /// Fits `y ≈ intercept + Σ coefficients[j]·columns[j]` by least squares.
    pub fn fit(columns: &[Vec<f64>], y: &[f64], l2: f64, fit_intercept: bool) -> Result<Self> {
        let p = columns.len();
        let offset = usize::from(fit_intercept);
        let width = p + offset;
        if y.len() < width {
            return Err(Error::Data(format!(
                "{} rows cannot determine {width} coefficients; train on more rows",
                y.len()
            )));
        }
        // The triangle [R c; 0 ρ] of the rows so far, (width + 1) square.
        let mut triangle = DMatrix::<f64>::zeros(0, width + 1);
        // Stacks `rows` new rows under the triangle and factors again; `fill`
        // writes column j of the new rows.
        let mut add_block = |rows: usize, fill: &dyn Fn(usize, &mut [f64])| {
            let above = triangle.nrows();
            let mut block = DMatrix::<f64>::zeros(above + rows, width + 1);
            block
                .view_mut((0, 0), (above, width + 1))
                .copy_from(&triangle);
            for j in 0..=width {
                fill(j, &mut block.column_mut(j).as_mut_slice()[above..]);
            }
            let r = block.qr().r();
            triangle = r.rows(0, r.nrows().min(width + 1)).into_owned();
        };
        for start in (0..y.len()).step_by(BLOCK_ROWS) {
            let end = (start + BLOCK_ROWS).min(y.len());
            add_block(end - start, &|j, out| {
                if j == width {
                    out.copy_from_slice(&y[start..end]);
                } else if j < offset {
                    out.fill(1.0);
                } else {
                    out.copy_from_slice(&columns[j - offset][start..end]);
                }
            });
        }
        if l2 > 0.0 {
            add_block(p, &|j, out| {
                if j >= offset && j < width {
                    out[j - offset] = l2.sqrt();
                }
            });
        }
        let r = triangle;
        let scale = (0..width).map(|i| r[(i, i)].abs()).fold(0.0, f64::max);
        let mut beta = vec![0.0; width];
        for i in (0..width).rev() {
            let diagonal = r[(i, i)];
            if diagonal.abs() <= scale * 1e-12 {
                return Err(Error::Data(
                    "the features are linearly dependent (a column repeats or combines others); \
                     drop one with features => ARRAY[...], or add l2 => 0.1"
                        .into(),
                ));
            }
            let known: f64 = (i + 1..width).map(|k| r[(i, k)] * beta[k]).sum();
            beta[i] = (r[(i, width)] - known) / diagonal;
        }
        let intercept = if fit_intercept { beta[0] } else { 0.0 };
        Ok(LinearModel {
            coefficients: beta[offset..].to_vec(),
            intercept,
        })
    }

    /// Predictions for encoded columns (all of one length, `rows`).
    pub fn predict(&self, columns: &[Vec<f64>], rows: usize) -> Vec<f64> {
        let mut out = vec![self.intercept; rows];
        for (column, coefficient) in columns.iter().zip(&self.coefficients) {
            for (o, v) in out.iter_mut().zip(column) {
                *o += coefficient * v;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_exact_coefficients() {
        let x = vec![
            (0..50).map(f64::from).collect::<Vec<_>>(),
            (0..50).map(|i| f64::from((i * 7) % 13) * 1e3).collect(),
        ];
        let y: Vec<f64> = (0..50)
            .map(|i| 3.0 + 2.0 * x[0][i] - 0.5e-3 * x[1][i])
            .collect();
        let model = LinearModel::fit(&x, &y, 0.0, true).unwrap();
        assert!((model.intercept - 3.0).abs() < 1e-9);
        assert!((model.coefficients[0] - 2.0).abs() / 2.0 < 1e-9);
        assert!((model.coefficients[1] + 0.5e-3).abs() / 0.5e-3 < 1e-9);
    }

    #[test]
    fn blocks_give_the_same_answer_as_one_factorization() {
        // Several blocks, the last one short.
        let n = 3 * BLOCK_ROWS + 17;
        let x: Vec<Vec<f64>> = (0..3)
            .map(|j| {
                (0..n)
                    .map(|i| ((i * (7 + j)) % 101) as f64 / 10.0)
                    .collect()
            })
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| 1.5 - 2.0 * x[0][i] + 0.25 * x[1][i] + 4.0 * x[2][i])
            .collect();
        let model = LinearModel::fit(&x, &y, 0.0, true).unwrap();
        let expected = [-2.0, 0.25, 4.0];
        assert!((model.intercept - 1.5).abs() < 1e-9);
        for (c, e) in model.coefficients.iter().zip(expected) {
            assert!((c - e).abs() / e.abs() < 1e-9, "{c} vs {e}");
        }
    }

    #[test]
    fn ridge_solves_the_penalized_normal_equations() {
        // Centered features, so the unpenalized intercept is the mean of y
        // and the slopes solve (XᵀX + l2·I) b = Xᵀy.
        let x = vec![
            vec![-1.0, 0.0, 1.0, 2.0, -2.0],
            vec![1.0, -1.0, 0.0, 1.0, -1.0],
        ];
        let y = vec![1.0, 2.0, 4.0, 3.0, 0.5];
        let l2 = 2.0;
        let model = LinearModel::fit(&x, &y, l2, true).unwrap();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let mean = y.iter().sum::<f64>() / 5.0;
        let yc: Vec<f64> = y.iter().map(|v| v - mean).collect();
        let (a, b, d) = (
            dot(&x[0], &x[0]) + l2,
            dot(&x[0], &x[1]),
            dot(&x[1], &x[1]) + l2,
        );
        let (r0, r1) = (dot(&x[0], &yc), dot(&x[1], &yc));
        let det = a * d - b * b;
        let expected = [(d * r0 - b * r1) / det, (a * r1 - b * r0) / det];
        assert!((model.intercept - mean).abs() < 1e-12);
        for (c, e) in model.coefficients.iter().zip(expected) {
            assert!((c - e).abs() < 1e-12, "{c} vs {e}");
        }
    }

    #[test]
    fn collinear_features_are_an_error() {
        let x = vec![
            (0..10).map(f64::from).collect::<Vec<_>>(),
            (0..10).map(|i| 2.0 * f64::from(i)).collect(),
        ];
        let y: Vec<f64> = (0..10).map(f64::from).collect();
        assert!(LinearModel::fit(&x, &y, 0.0, true).is_err());
        assert!(LinearModel::fit(&x, &y, 0.1, true).is_ok());
    }
}
