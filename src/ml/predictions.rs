//! What a model predicted for some rows: the one shape every model's
//! `predict` returns and PREDICT and EVALUATE read.

/// What a model predicted for some rows.
pub enum Predictions {
    /// Numbers.
    Values(Vec<f64>),
    /// Class indices, and each one's probability.
    Classes(Vec<i64>, Vec<f64>),
    /// Cluster indices, and each row's squared distance to its center.
    Clusters(Vec<i64>, Vec<f64>),
}
