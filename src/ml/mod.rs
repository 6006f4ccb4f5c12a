//! Machine learning in SQL: features, algorithms, the model registry, and
//! the table functions that train and apply models.
//!
//! - [`features`]: columns to numbers (numeric, boolean, categories).
//! - [`linear`]: exact least squares (QR), ridge.
//! - [`trees`]: decision trees and random forests.
//! - [`registry`]: versioned models on disk under the data directory.
//! - [`functions`]: `TRAIN_LINEAR`, `PREDICT`, `EVALUATE` in `FROM`.
//! - [`describe`]: `SHOW MODELS` and `DESCRIBE MODEL` rows.
//! - [`predict_udf`]: the scalar `PREDICT('model', f1, f2, ...)`.

pub mod describe;
pub mod features;
pub mod functions;
pub mod linear;
pub mod predict_udf;
pub mod registry;
pub mod trees;
