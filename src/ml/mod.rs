//! Machine learning in SQL: features, algorithms, the model registry, and
//! the table functions that train and apply models.
//!
//! - [`features`]: columns to numbers (numeric, boolean, categories).
//! - `linear` (internal): exact least squares (QR), ridge.
//! - `bins` (internal): feature values cut into at most 256 bins for tree growing.
//! - `tree` (internal): one CART decision tree.
//! - [`trees`]: decision trees and random forests as models.
//! - [`rows`]: a model's input, as the batches a query returned.
//! - [`registry`]: versioned models on disk under the data directory.
//! - `functions` (internal): `TRAIN_LINEAR`, `PREDICT`, `EVALUATE` in `FROM`.
//! - [`describe`]: `SHOW MODELS` and `DESCRIBE MODEL` rows.
//! - `predict` (internal): `PREDICT`, scalar and table form, one vectorized function.

pub(crate) mod bins;
pub mod describe;
pub mod features;
pub(crate) mod functions;
pub(crate) mod linear;
pub(crate) mod predict;
pub mod registry;
pub mod rows;
pub(crate) mod tree;
pub mod trees;
