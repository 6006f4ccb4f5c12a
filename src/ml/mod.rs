//! Machine learning in SQL: features, algorithms, the model registry, and
//! the table functions that train and apply models.
//!
//! - [`features`]: columns to numbers (numeric, boolean, categories).
//! - [`linear`]: exact least squares (QR), ridge.
//! - [`bins`]: feature values cut into at most 256 bins for tree growing.
//! - [`tree`]: one CART decision tree.
//! - [`trees`]: decision trees and random forests as models.
//! - [`rows`]: a model's input, as the batches a query returned.
//! - [`registry`]: versioned models on disk under the data directory.
//! - [`functions`]: `TRAIN_LINEAR`, `PREDICT`, `EVALUATE` in `FROM`.
//! - [`describe`]: `SHOW MODELS` and `DESCRIBE MODEL` rows.
//! - [`predict`]: `PREDICT`, scalar and table form, one vectorized function.

pub mod bins;
pub mod describe;
pub mod features;
pub mod functions;
pub mod linear;
pub mod predict;
pub mod registry;
pub mod rows;
pub mod tree;
pub mod trees;
