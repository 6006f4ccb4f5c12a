//! Gradient-boosted trees (`TRAIN_GBT`), for classification (log-loss) and
//! regression (squared error), grown on the same binned CART as trees and
//! forests.
//!
//! Each round fits one tree per class (one in all for regression and for
//! two classes) to the loss's gradients at the current raw scores, with
//! Newton leaves (−G/H, see [`Target::Gradients`]) shrunk by the learning
//! rate: scikit-learn's `HistGradientBoosting*` and XGBoost's recipe. Raw
//! scores start at the loss's best constant: the mean (regression), the log
//! odds of class 1 (binary), the log of each class's share (multinomial).
//! `subsample < 1` grows each round on that share of the rows, drawn
//! without replacement.
//!
//! Prediction lays each tree out as a complete binary tree of its depth
//! (a shallower leaf copied down), so a row's walk is `depth` branch-free
//! steps, and walks eight rows at a time in step through every tree.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::bins::Bins;
use super::predictions::Predictions;
use super::tree::{DecisionTree, Growth, Node, Target};
use crate::error::{Error, Result};

/// The deepest tree boosting grows (its trees are laid out complete for
/// prediction: 2^depth leaves each).
pub const MAX_DEPTH: u16 = 12;

/// Training settings of boosted trees.
#[derive(Debug, Clone)]
pub struct BoostingOptions {
    /// Boosting rounds.
    pub num_trees: u16,
    /// Shrinkage of each tree's leaves.
    pub learning_rate: f64,
    /// Depth of each tree, 1 to [`MAX_DEPTH`].
    pub max_depth: u16,
    /// Fewest rows a leaf may hold.
    pub min_samples_leaf: usize,
    /// Share of the rows each round grows on, in (0, 1].
    pub subsample: f64,
    /// Random seed (subsampling).
    pub seed: u64,
}

/// A fitted booster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BoostedModel {
    /// The number of classes (classification), or `None` (regression).
    pub classes: Option<usize>,
    /// Starting raw score per output (one, or one per class beyond two).
    pub baseline: Vec<f64>,
    /// The trees, round after round; a round holds one tree per output.
    /// Their leaves are already shrunk by the learning rate.
    pub trees: Vec<DecisionTree>,
    /// Feature importances per encoded column (total gain), summing to 1.
    pub importances: Vec<f64>,
}

impl BoostedModel {
    /// Raw scores per row: one output for regression and binary
    /// classification, one per class for more.
    fn outputs(&self) -> usize {
        self.baseline.len()
    }

    /// Fits a classifier on class indices `y` (below `classes`, at least 2).
    pub fn fit_classifier(
        columns: &[Vec<f64>],
        y: &[u32],
        classes: usize,
        options: &BoostingOptions,
    ) -> Result<Self> {
        let rows = y.len() as f64;
        let mut shares = vec![0.0; classes];
        for &class in y {
            shares[class as usize] += 1.0 / rows;
        }
        let baseline = if classes == 2 {
            vec![(shares[1] / shares[0]).ln()]
        } else {
            shares.iter().map(|s| s.ln()).collect()
        };
        let targets: Vec<Vec<f64>> = (0..baseline.len())
            .map(|k| {
                let class = if classes == 2 { 1 } else { k as u32 };
                y.iter().map(|&c| f64::from(u8::from(c == class))).collect()
            })
            .collect();
        Self::fit(columns, Some(classes), baseline, &targets, options)
    }

    /// Fits a regressor on values `y`.
    pub fn fit_regressor(
        columns: &[Vec<f64>],
        y: &[f64],
        options: &BoostingOptions,
    ) -> Result<Self> {
        let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        Self::fit(columns, None, vec![mean], &[y.to_vec()], options)
    }

    /// Boosts from `baseline` towards `targets` (per output: the values, or
    /// 1/0 for "is this class").
    fn fit(
        columns: &[Vec<f64>],
        classes: Option<usize>,
        baseline: Vec<f64>,
        targets: &[Vec<f64>],
        options: &BoostingOptions,
    ) -> Result<Self> {
        check_options(options)?;
        let rows = columns.first().map_or(0, Vec::len);
        if rows == 0 {
            return Err(Error::Data(
                "boosted trees need at least one row and one feature".into(),
            ));
        }
        let growth = Growth {
            max_depth: usize::from(options.max_depth),
            min_samples_split: 2.0,
            min_samples_leaf: options.min_samples_leaf.max(1) as f64,
            max_features: columns.len(),
        };
        let bins = Bins::new(columns);
        let mut rng = StdRng::seed_from_u64(options.seed);
        let outputs = baseline.len();
        let mut scores: Vec<Vec<f64>> = baseline.iter().map(|&b| vec![b; rows]).collect();
        let (mut g, mut h, mut q) = (vec![0.0; rows], vec![0.0; rows], vec![0.0; rows]);
        let mut probabilities = vec![vec![0.0; rows]; outputs];
        let sampled = ((options.subsample * rows as f64).round() as usize).clamp(1, rows);
        let mut trees = Vec::with_capacity(usize::from(options.num_trees) * outputs);
        let mut importances = vec![0.0; columns.len()];
        for _ in 0..options.num_trees {
            let weights = if sampled < rows {
                let mut weights = vec![0u32; rows];
                for row in sample(&mut rng, rows, sampled) {
                    weights[row] = 1;
                }
                weights
            } else {
                vec![1; rows]
            };
            if classes.is_some() {
                link(&scores, &mut probabilities);
            }
            for (k, target) in targets.iter().enumerate() {
                for row in 0..rows {
                    let (gradient, hessian) = match classes {
                        None => (scores[k][row] - target[row], 1.0),
                        Some(_) => {
                            let p = probabilities[k][row];
                            (p - target[row], (p * (1.0 - p)).max(1e-16))
                        }
                    };
                    g[row] = gradient;
                    h[row] = hessian;
                    q[row] = gradient * gradient / hessian;
                }
                let target = Target::Gradients {
                    g: &g,
                    h: &h,
                    q: &q,
                };
                let (mut tree, gains) =
                    DecisionTree::fit(&bins, target, &weights, &growth, &mut rng);
                for node in &mut tree.nodes {
                    if let Node::Leaf(values) = node {
                        values.iter_mut().for_each(|v| *v *= options.learning_rate);
                    }
                }
                for (row, score) in scores[k].iter_mut().enumerate() {
                    *score += tree.leaf(columns, row)[0];
                }
                importances
                    .iter_mut()
                    .zip(&gains)
                    .for_each(|(i, d)| *i += d);
                trees.push(tree);
            }
        }
        let sum: f64 = importances.iter().sum();
        if sum > 0.0 {
            importances.iter_mut().for_each(|i| *i /= sum);
        }
        Ok(BoostedModel {
            classes,
            baseline,
            trees,
            importances,
        })
    }

    /// Checks a booster read from a file against `width` encoded features.
    pub fn check(&self, width: usize) -> std::result::Result<(), String> {
        let outputs = match self.classes {
            None => 1,
            Some(2) => 1,
            Some(k) if k > 2 => k,
            Some(k) => return Err(format!("it has {k} classes; a classifier needs 2 or more")),
        };
        if self.baseline.len() != outputs {
            return Err(format!(
                "it has {} starting scores for {outputs} outputs",
                self.baseline.len()
            ));
        }
        if self.trees.is_empty() || self.trees.len() % outputs != 0 {
            return Err(format!(
                "it has {} trees, not a positive multiple of its {outputs} outputs",
                self.trees.len()
            ));
        }
        for (t, tree) in self.trees.iter().enumerate() {
            tree.check(width, 1)
                .map_err(|problem| format!("tree {t}: {problem}"))?;
            if tree.depth() > usize::from(MAX_DEPTH) {
                return Err(format!("tree {t} is deeper than {MAX_DEPTH}"));
            }
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
        let outputs = self.outputs();
        let mut scores: Vec<Vec<f64>> = self.baseline.iter().map(|&b| vec![b; rows]).collect();
        // Rows go down in groups of LANES: a group's feature values are
        // copied side by side once, then every tree walks the group.
        let trees: Vec<Complete> = self.trees.iter().map(Complete::new).collect();
        let width = columns.len();
        let mut values = vec![0.0; LANES * width];
        for first in (0..rows).step_by(LANES) {
            let lanes = LANES.min(rows - first);
            for (feature, column) in columns.iter().enumerate() {
                for lane in 0..lanes {
                    values[lane * width + feature] = column[first + lane];
                }
            }
            for (t, tree) in trees.iter().enumerate() {
                let leaves = tree.walk(&values, width);
                for (score, leaf) in scores[t % outputs][first..first + lanes]
                    .iter_mut()
                    .zip(leaves)
                {
                    *score += leaf;
                }
            }
        }
        let Some(classes) = self.classes else {
            return Predictions::Values(scores.pop().unwrap_or_default());
        };
        let mut probabilities = vec![vec![0.0; rows]; outputs];
        link(&scores, &mut probabilities);
        let (out_classes, out_probabilities) = if classes == 2 {
            probabilities[0]
                .iter()
                .map(|&p| if p > 0.5 { (1, p) } else { (0, 1.0 - p) })
                .unzip()
        } else {
            (0..rows)
                .map(|row| {
                    let best = (0..outputs).fold(0, |b, k| {
                        if probabilities[k][row] > probabilities[b][row] {
                            k
                        } else {
                            b
                        }
                    });
                    (best as i64, probabilities[best][row])
                })
                .unzip()
        };
        Predictions::Classes(out_classes, out_probabilities)
    }
}

/// Refuses settings boosting cannot use, naming the option.
fn check_options(options: &BoostingOptions) -> Result<()> {
    if options.num_trees == 0 {
        return Err(Error::query(
            "num_trees => 0: boosting needs at least 1 tree",
        ));
    }
    if !(options.learning_rate > 0.0 && options.learning_rate.is_finite()) {
        return Err(Error::query(format!(
            "learning_rate => {}: give a number above 0 (0.1 is usual)",
            options.learning_rate
        )));
    }
    if !(1..=MAX_DEPTH).contains(&options.max_depth) {
        return Err(Error::query(format!(
            "max_depth => {}: boosted trees are 1 to {MAX_DEPTH} levels deep (6 is usual)",
            options.max_depth
        )));
    }
    if !(options.subsample > 0.0 && options.subsample <= 1.0) {
        return Err(Error::query(format!(
            "subsample => {}: give the share of rows per round, above 0 and at most 1",
            options.subsample
        )));
    }
    Ok(())
}

/// Probabilities from raw scores: the logistic function of one output, or
/// the softmax over several.
fn link(scores: &[Vec<f64>], probabilities: &mut [Vec<f64>]) {
    if let [score] = scores {
        for (p, s) in probabilities[0].iter_mut().zip(score) {
            *p = 1.0 / (1.0 + (-s).exp());
        }
        return;
    }
    for row in 0..scores[0].len() {
        let top = scores.iter().fold(f64::NEG_INFINITY, |m, s| m.max(s[row]));
        let mut sum = 0.0;
        for (p, s) in probabilities.iter_mut().zip(scores) {
            p[row] = (s[row] - top).exp();
            sum += p[row];
        }
        probabilities.iter_mut().for_each(|p| p[row] /= sum);
    }
}

/// A tree laid out complete: split `i` has children `2i + 1` and `2i + 2`,
/// and the `2^depth` leaves follow the `2^depth − 1` splits.
struct Complete {
    depth: usize,
    splits: Vec<Split>,
    leaves: Vec<f64>,
}

impl Complete {
    fn new(tree: &DecisionTree) -> Self {
        let depth = tree.depth();
        let splits = (1usize << depth) - 1;
        let mut complete = Complete {
            depth,
            splits: vec![
                Split {
                    feature: 0,
                    threshold: f64::INFINITY,
                };
                splits
            ],
            leaves: vec![0.0; splits + 1],
        };
        // (node of the tree, position in the layout)
        let mut pending = vec![(0usize, 0usize)];
        while let Some((node, position)) = pending.pop() {
            if position >= splits {
                if let Node::Leaf(values) = &tree.nodes[node] {
                    complete.leaves[position - splits] = values[0];
                }
                continue;
            }
            let (left, right) = match tree.nodes[node] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    complete.splits[position] = Split { feature, threshold };
                    (left, right)
                }
                // A leaf above the last level: every row goes left (the
                // threshold is +inf), down to copies of it.
                Node::Leaf(_) => (node, node),
            };
            pending.push((left, 2 * position + 1));
            pending.push((right, 2 * position + 2));
        }
        complete
    }

    /// The leaf values of [`LANES`] rows, given side by side in `values`
    /// (`width` per row), walked level by level so that the walks are
    /// independent work the processor overlaps.
    fn walk(&self, values: &[f64], width: usize) -> [f64; LANES] {
        let splits = self.leaves.len() - 1;
        let mut positions = [0usize; LANES];
        for _ in 0..self.depth {
            for (lane, position) in positions.iter_mut().enumerate() {
                let split = &self.splits[*position];
                let right = values[lane * width + split.feature] > split.threshold;
                *position = 2 * *position + 1 + usize::from(right);
            }
        }
        positions.map(|position| self.leaves[position - splits])
    }
}

/// One split of a [`Complete`] tree.
#[derive(Clone, Copy)]
struct Split {
    feature: usize,
    threshold: f64,
}

/// Rows walked down the trees together.
const LANES: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn options(num_trees: u16, max_depth: u16) -> BoostingOptions {
        BoostingOptions {
            num_trees,
            learning_rate: 0.1,
            max_depth,
            min_samples_leaf: 1,
            subsample: 1.0,
            seed: 0,
        }
    }

    #[test]
    fn regression_approaches_the_targets_and_prediction_equals_the_walk() {
        let columns = vec![(0..203).map(|i| f64::from(i) / 10.0).collect::<Vec<_>>()];
        let y: Vec<f64> = columns[0].iter().map(|x| (x * 0.7).sin() * 3.0).collect();
        let model = BoostedModel::fit_regressor(&columns, &y, &options(200, 3)).unwrap();
        let Predictions::Values(predicted) = model.predict(&columns, 203) else {
            panic!("a regressor predicts values");
        };
        let mse = y
            .iter()
            .zip(&predicted)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / 203.0;
        assert!(mse < 0.01, "mse {mse}");
        // The complete layout gives what walking the nodes gives (203 rows:
        // groups of 8 and a remainder).
        for (row, p) in predicted.iter().enumerate() {
            let walked: f64 = model.baseline[0]
                + model
                    .trees
                    .iter()
                    .map(|t| t.leaf(&columns, row)[0])
                    .sum::<f64>();
            assert!((walked - p).abs() < 1e-9);
        }
        assert!(model.check(1).is_ok());
    }

    #[test]
    fn classes_are_separated_with_probabilities() {
        let columns = vec![(0..300)
            .map(|i| f64::from(i % 3) + f64::from(i) * 1e-3)
            .collect::<Vec<_>>()];
        let y: Vec<u32> = (0..300).map(|i| i % 3).collect();
        let model = BoostedModel::fit_classifier(&columns, &y, 3, &options(50, 2)).unwrap();
        assert_eq!(model.trees.len(), 150);
        let Predictions::Classes(classes, probabilities) = model.predict(&columns, 300) else {
            panic!("a classifier predicts classes");
        };
        assert!(classes.iter().zip(&y).all(|(c, y)| *c == i64::from(*y)));
        assert!(probabilities.iter().all(|p| *p > 0.9 && *p <= 1.0));
        let binary: Vec<u32> = y.iter().map(|c| u32::from(*c == 2)).collect();
        let model = BoostedModel::fit_classifier(&columns, &binary, 2, &options(50, 2)).unwrap();
        assert_eq!(model.trees.len(), 50);
        let Predictions::Classes(classes, _) = model.predict(&columns, 300) else {
            panic!("a classifier predicts classes");
        };
        assert!(classes
            .iter()
            .zip(&binary)
            .all(|(c, y)| *c == i64::from(*y)));
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        let columns = vec![vec![1.0, 2.0]];
        for (bad, name) in [
            (
                BoostingOptions {
                    num_trees: 0,
                    ..options(1, 1)
                },
                "num_trees",
            ),
            (
                BoostingOptions {
                    learning_rate: 0.0,
                    ..options(1, 1)
                },
                "learning_rate",
            ),
            (options(1, 13), "max_depth"),
            (
                BoostingOptions {
                    subsample: 1.5,
                    ..options(1, 1)
                },
                "subsample",
            ),
        ] {
            let error = BoostedModel::fit_regressor(&columns, &[1.0, 2.0], &bad).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
