//! Linear regression: exact least squares, with optional L2 (ridge) and
//! intercept.
//!
//! The solver is a Householder QR decomposition of the design matrix
//! (nalgebra's, column-major), then `R b = Qᵀ y` by back-substitution, with
//! `Qᵀ y` formed by applying the reflections to `y` (Q itself, n × p, is never
//! built). QR is used instead of the normal equations (`XᵀX b = Xᵀy`)
//! because forming `XᵀX` squares the condition number; with QR the result is
//! exact least squares to machine precision even for badly scaled features.
//! Ridge is solved the same way on the design matrix augmented with
//! `sqrt(l2)·I` rows (the intercept is not penalized).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
        let ridge_rows = if l2 > 0.0 { p } else { 0 };
        let height = y.len() + ridge_rows;
        if y.len() < width {
            return Err(Error::Data(format!(
                "{} rows cannot determine {width} coefficients; train on more rows",
                y.len()
            )));
        }
        // Column-major: the intercept's ones, then each feature, each followed
        // by its ridge row block.
        let mut design = Vec::with_capacity(height * width);
        if fit_intercept {
            design.extend(std::iter::repeat_n(1.0, y.len()));
            design.extend(std::iter::repeat_n(0.0, ridge_rows));
        }
        for (j, column) in columns.iter().enumerate() {
            design.extend_from_slice(column);
            design.extend((0..ridge_rows).map(|k| if k == j { l2.sqrt() } else { 0.0 }));
        }
        let mut target = Vec::with_capacity(height);
        target.extend_from_slice(y);
        target.resize(height, 0.0);
        let mut target = DVector::from_vec(target);
        let qr = DMatrix::from_vec(height, width, design).qr();
        qr.q_tr_mul(&mut target);
        let r = qr.r();
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
            beta[i] = (target[i] - known) / diagonal;
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
