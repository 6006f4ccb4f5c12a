//! Decision trees and random forests, for classification and regression,
//! over the same encoded features as linear models.
//!
//! A tree is one `DecisionTree` grown on every row with every feature. A
//! forest is `num_trees` of them, each on a bootstrap sample (rows drawn
//! with replacement, as row weights) and trying `max_features` random
//! features per node (default √p for classification, p for regression,
//! scikit-learn's defaults); it predicts the mean of its trees' class
//! probabilities or values. Feature importances are the impurity decrease
//! per feature (scikit-learn's "mean decrease in impurity"), normalized per
//! tree and averaged.
//!
//! smartcore's trees were the first implementation; they trained a 100-tree
//! forest 2× slower than scikit-learn and had no importances for
//! classification forests, so flowsql grows its own on binned features
//! (see `bins.rs` and BENCHMARKS.md).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::bins::Bins;
use super::predictions::Predictions;
use super::tree::{DecisionTree, Growth, Target};
use crate::error::{Error, Result};

/// Training settings of trees and forests.
#[derive(Debug, Clone)]
pub struct TreeOptions {
    /// Deepest a tree may grow (unlimited when `None`).
    pub max_depth: Option<u16>,
    /// Fewest rows a node needs to be split.
    pub min_samples_split: usize,
    /// Fewest rows a leaf may hold.
    pub min_samples_leaf: usize,
    /// Trees in a forest; `None` trains one tree.
    pub num_trees: Option<u16>,
    /// Features tried per split in a forest (default √p for classification,
    /// p for regression).
    pub max_features: Option<usize>,
    /// Random seed (forests).
    pub seed: u64,
}

/// A fitted tree or forest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TreeModel {
    /// The number of classes (classification), or `None` (regression).
    pub classes: Option<usize>,
    /// One tree, or a forest's trees.
    pub trees: Vec<DecisionTree>,
    /// Feature importances per encoded column, summing to 1.
    pub importances: Vec<f64>,
}

impl TreeModel {
    /// Fits a classifier on class indices `y` (below `classes`).
    pub fn fit_classifier(
        columns: &[Vec<f64>],
        y: &[u32],
        classes: usize,
        options: &TreeOptions,
    ) -> Result<Self> {
        let square_root = ((columns.len() as f64).sqrt() as usize).max(1);
        Self::fit(
            columns,
            Target::Classes { y, classes },
            Some(classes),
            square_root,
            options,
        )
    }

    /// Fits a regressor on values `y`.
    pub fn fit_regressor(columns: &[Vec<f64>], y: &[f64], options: &TreeOptions) -> Result<Self> {
        Self::fit(columns, Target::Values(y), None, columns.len(), options)
    }

    fn fit(
        columns: &[Vec<f64>],
        target: Target<'_>,
        classes: Option<usize>,
        forest_features: usize,
        options: &TreeOptions,
    ) -> Result<Self> {
        if options.num_trees == Some(0) {
            return Err(Error::query(
                "num_trees => 0: a forest needs at least 1 tree",
            ));
        }
        let rows = columns.first().map_or(0, Vec::len);
        if rows == 0 || columns.is_empty() {
            return Err(Error::Data(
                "a tree needs at least one row and one feature".into(),
            ));
        }
        let max_features = match (options.num_trees, options.max_features) {
            (_, Some(0)) => return Err(Error::query("max_features => 0: give at least 1")),
            (Some(_), Some(m)) => m.min(columns.len()),
            (Some(_), None) => forest_features,
            (None, _) => columns.len(),
        };
        let growth = Growth {
            max_depth: options.max_depth.map_or(usize::MAX, usize::from),
            min_samples_split: options.min_samples_split.max(2) as f64,
            min_samples_leaf: options.min_samples_leaf.max(1) as f64,
            max_features,
        };
        let bins = Bins::new(columns);
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut trees = Vec::new();
        let mut importances = vec![0.0; columns.len()];
        for _ in 0..options.num_trees.unwrap_or(1) {
            let weights = match options.num_trees {
                Some(_) => {
                    let mut counts = vec![0u32; rows];
                    for _ in 0..rows {
                        counts[rng.random_range(0..rows)] += 1;
                    }
                    counts
                }
                None => vec![1; rows],
            };
            let (tree, decrease) = DecisionTree::fit(&bins, target, &weights, &growth, &mut rng);
            let sum: f64 = decrease.iter().sum();
            if sum > 0.0 {
                importances
                    .iter_mut()
                    .zip(&decrease)
                    .for_each(|(i, d)| *i += d / sum);
            }
            trees.push(tree);
        }
        let sum: f64 = importances.iter().sum();
        if sum > 0.0 {
            importances.iter_mut().for_each(|i| *i /= sum);
        }
        Ok(TreeModel {
            classes,
            trees,
            importances,
        })
    }

    /// Checks a tree or forest read from a file against `width` encoded
    /// features: every split names a feature below `width` and children
    /// after their parent (so a walk from the root always ends at a leaf),
    /// every leaf holds one value per class (or one value).
    pub fn check(&self, width: usize) -> std::result::Result<(), String> {
        if self.trees.is_empty() {
            return Err("it has no trees".into());
        }
        if self.classes == Some(0) {
            return Err("it has no classes".into());
        }
        let leaf_width = self.classes.unwrap_or(1);
        for (t, tree) in self.trees.iter().enumerate() {
            tree.check(width, leaf_width)
                .map_err(|problem| format!("tree {t}: {problem}"))?;
        }
        if self.importances.len() != width {
            return Err(format!(
                "it has {} feature importances for {width} encoded features",
                self.importances.len()
            ));
        }
        Ok(())
    }

    /// Predictions for encoded columns (all of one length, `rows`).
    pub fn predict(&self, columns: &[Vec<f64>], rows: usize) -> Predictions {
        let width = self.classes.unwrap_or(1);
        let mut sums = vec![0.0; width];
        let mut out_classes = Vec::new();
        let mut out_probabilities = Vec::new();
        let mut out_values = Vec::new();
        for row in 0..rows {
            sums.fill(0.0);
            for tree in &self.trees {
                for (sum, value) in sums.iter_mut().zip(tree.leaf(columns, row)) {
                    *sum += value;
                }
            }
            match self.classes {
                Some(_) => {
                    let best = (0..width).fold(0, |b, k| if sums[k] > sums[b] { k } else { b });
                    out_classes.push(best as i64);
                    out_probabilities.push(sums[best] / self.trees.len() as f64);
                }
                None => out_values.push(sums[0] / self.trees.len() as f64),
            }
        }
        match self.classes {
            Some(_) => Predictions::Classes(out_classes, out_probabilities),
            None => Predictions::Values(out_values),
        }
    }
}
