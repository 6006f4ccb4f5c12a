//! Linear regression: exact least squares, with optional L2 (ridge) and
//! intercept.
//!
//! The solver is a QR decomposition (smartcore's Householder QR) of the
//! design matrix, then back-substitution: `R b = Qᵀ y`. QR is used instead of
//! the normal equations (`XᵀX b = Xᵀy`) because forming `XᵀX` squares the
//! condition number; with QR the result is exact least squares to machine
//! precision even for badly scaled features. Ridge is solved the same way on
//! the design matrix augmented with `sqrt(l2)·I` rows (the intercept is not
//! penalized).

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linalg::traits::qr::QRDecomposable;

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
    /// Fits `y ≈ intercept + x·coefficients` by least squares.
    pub fn fit(x: &[Vec<f64>], y: &[f64], l2: f64, fit_intercept: bool) -> Result<Self> {
        let p = x.first().map_or(0, Vec::len);
        let offset = usize::from(fit_intercept);
        let columns = p + offset;
        if x.len() < columns {
            return Err(Error::Data(format!(
                "{} rows cannot determine {columns} coefficients; train on more rows",
                x.len()
            )));
        }
        let mut rows: Vec<Vec<f64>> = x
            .iter()
            .map(|r| {
                let mut row = Vec::with_capacity(columns);
                if fit_intercept {
                    row.push(1.0);
                }
                row.extend_from_slice(r);
                row
            })
            .collect();
        let mut target = y.to_vec();
        if l2 > 0.0 {
            for j in 0..p {
                let mut row = vec![0.0; columns];
                row[offset + j] = l2.sqrt();
                rows.push(row);
                target.push(0.0);
            }
        }
        let design = DenseMatrix::from_2d_vec(&rows)
            .map_err(|e| Error::Internal(format!("design matrix: {e}")))?;
        let qr = design
            .qr()
            .map_err(|e| Error::Internal(format!("QR decomposition: {e}")))?;
        let (q, r) = (qr.Q(), qr.R());
        // c = Qᵀ y
        let c: Vec<f64> = (0..columns)
            .map(|j| (0..target.len()).map(|i| q.get((i, j)) * target[i]).sum())
            .collect();
        let scale = (0..columns)
            .map(|i| r.get((i, i)).abs())
            .fold(0.0, f64::max);
        let mut beta = vec![0.0; columns];
        for i in (0..columns).rev() {
            let diagonal = *r.get((i, i));
            if diagonal.abs() <= scale * 1e-12 {
                return Err(Error::Data(
                    "the features are linearly dependent (a column repeats or combines others); \
                     drop one with features => ARRAY[...], or add l2 => 0.1"
                        .into(),
                ));
            }
            let known: f64 = (i + 1..columns).map(|k| r.get((i, k)) * beta[k]).sum();
            beta[i] = (c[i] - known) / diagonal;
        }
        let intercept = if fit_intercept { beta[0] } else { 0.0 };
        Ok(LinearModel {
            coefficients: beta[offset..].to_vec(),
            intercept,
        })
    }

    /// Predictions for encoded rows.
    pub fn predict(&self, x: &[Vec<f64>]) -> Vec<f64> {
        x.iter()
            .map(|row| {
                self.intercept
                    + row
                        .iter()
                        .zip(&self.coefficients)
                        .map(|(v, c)| v * c)
                        .sum::<f64>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_exact_coefficients() {
        let x: Vec<Vec<f64>> = (0..50)
            .map(|i| vec![i as f64, ((i * 7) % 13) as f64 * 1e3])
            .collect();
        let y: Vec<f64> = x.iter().map(|r| 3.0 + 2.0 * r[0] - 0.5e-3 * r[1]).collect();
        let model = LinearModel::fit(&x, &y, 0.0, true).unwrap();
        assert!((model.intercept - 3.0).abs() < 1e-9);
        assert!((model.coefficients[0] - 2.0).abs() / 2.0 < 1e-9);
        assert!((model.coefficients[1] + 0.5e-3).abs() / 0.5e-3 < 1e-9);
    }

    #[test]
    fn collinear_features_are_an_error() {
        let x: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64, 2.0 * i as f64]).collect();
        let y: Vec<f64> = (0..10).map(|i| i as f64).collect();
        assert!(LinearModel::fit(&x, &y, 0.0, true).is_err());
        assert!(LinearModel::fit(&x, &y, 0.1, true).is_ok());
    }
}
