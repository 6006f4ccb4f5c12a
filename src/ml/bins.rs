//! Bins: each feature's values cut into at most 256 ordered intervals, so a
//! tree finds its splits by scanning a histogram per node instead of
//! sorting the node's rows.
//!
//! A feature with at most 256 distinct values gets one bin per value (its
//! splits are then exactly the ones an exact tree considers: midpoints
//! between neighbouring values). A feature with more gets cut at 255
//! quantiles, the approach of LightGBM and scikit-learn's
//! `HistGradientBoosting`. A value `x` is in bin `b` when it is above `b`
//! cut points, so `bin(x) <= b` exactly when `x <= cuts[b]`: a split found
//! on bins is the threshold `cuts[b]` on raw values.

/// The most bins a feature has (bin numbers fit a `u8`).
pub const MAX_BINS: usize = 256;

/// Every feature's cut points and its rows' bin numbers.
pub struct Bins {
    /// Per feature, ascending cut points (at most `MAX_BINS - 1`).
    pub cuts: Vec<Vec<f64>>,
    /// Per feature, each row's bin number.
    pub rows: Vec<Vec<u8>>,
}

impl Bins {
    /// Bins the encoded `columns` (all of one length, no NaN).
    pub fn new(columns: &[Vec<f64>]) -> Self {
        let cuts: Vec<Vec<f64>> = columns.iter().map(|c| cut_points(c)).collect();
        let rows = columns
            .iter()
            .zip(&cuts)
            .map(|(column, cuts)| {
                column
                    .iter()
                    .map(|x| cuts.partition_point(|c| c < x) as u8)
                    .collect()
            })
            .collect();
        Bins { cuts, rows }
    }
}

/// Cut points between neighbouring distinct values, at most `MAX_BINS - 1`.
fn cut_points(column: &[f64]) -> Vec<f64> {
    let mut sorted = column.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut distinct = sorted.clone();
    distinct.dedup();
    let midpoint = |a: f64, b: f64| a + (b - a) / 2.0;
    if distinct.len() <= MAX_BINS {
        return distinct.windows(2).map(|w| midpoint(w[0], w[1])).collect();
    }
    let mut cuts: Vec<f64> = (1..MAX_BINS)
        .filter_map(|q| {
            let below = sorted[q * sorted.len() / MAX_BINS - 1];
            let next = distinct.partition_point(|v| *v <= below);
            distinct.get(next).map(|&above| midpoint(below, above))
        })
        .collect();
    cuts.dedup();
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_one_bin_each() {
        let bins = Bins::new(&[vec![3.0, 1.0, 2.0, 1.0]]);
        assert_eq!(bins.cuts[0], vec![1.5, 2.5]);
        assert_eq!(bins.rows[0], vec![2, 0, 1, 0]);
    }

    #[test]
    fn many_values_get_quantile_bins_consistent_with_cuts() {
        let column: Vec<f64> = (0..10_000)
            .map(|i| f64::from((i * 7919) % 10_007))
            .collect();
        let bins = Bins::new(std::slice::from_ref(&column));
        assert!(bins.cuts[0].len() < MAX_BINS);
        assert!(bins.cuts[0].len() > 200);
        for (x, b) in column.iter().zip(&bins.rows[0]) {
            let b = usize::from(*b);
            assert!(b == bins.cuts[0].len() || *x <= bins.cuts[0][b]);
            assert!(b == 0 || *x > bins.cuts[0][b - 1]);
        }
    }
}
