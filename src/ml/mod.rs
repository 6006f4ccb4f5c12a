//! Machine learning in SQL: features, algorithms, the model registry, and
//! the table functions that train and apply models.
//!
//! - [`features`]: columns to numbers (numeric, boolean, categories).
//! - `linear` (internal): exact least squares (QR), ridge.
//! - `logistic` (internal): logistic regression, binary and multinomial.
//! - `kmeans` (internal): k-means++ and Lloyd's iterations.
//! - `bins` (internal): feature values cut into at most 256 bins for tree growing.
//! - `tree` (internal): one CART decision tree.
//! - [`trees`]: decision trees and random forests as models.
//! - `boosting` (internal): gradient-boosted trees.
//! - [`predictions`]: what a model predicted, the shape every model returns.
//! - [`rows`]: a model's input, as the batches a query returned.
//! - [`registry`]: versioned models on disk under the data directory.
//! - `calls` (internal): `TRAIN_LINEAR`, `TRAIN_LOGISTIC`, `TRAIN_TREE`,
//!   `TRAIN_FOREST`, `TRAIN_GBT`, `TRAIN_KMEANS`, `PREDICT`, `EVALUATE` in `FROM`, one
//!   file per function.
//! - [`describe`]: `SHOW MODELS` and `DESCRIBE MODEL` rows.
//! - `predict` (internal): `PREDICT`, scalar and table form, one vectorized function.

pub(crate) mod bins;
pub(crate) mod boosting;
pub(crate) mod calls;
pub mod describe;
pub mod features;
pub(crate) mod kmeans;
pub(crate) mod linear;
pub(crate) mod logistic;
pub(crate) mod predict;
pub mod predictions;
pub mod registry;
pub mod rows;
pub(crate) mod tree;
pub mod trees;
