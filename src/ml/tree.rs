//! One CART decision tree, grown on binned features (see [`super::bins`]).
//!
//! Splits minimize the weighted Gini impurity (classification) or squared
//! error (regression) of the two children, as scikit-learn's trees do. For
//! each node and each feature tried, one pass over the node's rows fills a
//! histogram of label statistics per bin, and one pass over the bins finds
//! the best cut; the node's rows are then partitioned in place (see
//! [`DecisionTree::fit`] for the histogram subtraction). Row weights
//! carry a forest's bootstrap counts. Growth is depth-first with an explicit
//! stack, so an unlimited depth cannot overflow the call stack.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use super::bins::Bins;

/// One node of a fitted tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Node {
    /// Rows with `value <= threshold` in `feature` go `left`, others `right`.
    Split {
        /// The encoded feature's index.
        feature: usize,
        /// The cut point.
        threshold: f64,
        /// The left child's node index.
        left: usize,
        /// The right child's node index.
        right: usize,
    },
    /// A leaf: class probabilities (classification) or the mean (regression).
    Leaf(Vec<f64>),
}

/// A fitted tree: its nodes, the root first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DecisionTree {
    /// The nodes; children come after their parent.
    pub nodes: Vec<Node>,
}

/// What a tree learns.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// Class indices.
    Classes {
        /// Each row's class.
        y: &'a [u32],
        /// How many classes there are (every `y` is below it).
        classes: usize,
    },
    /// Numbers.
    Values(&'a [f64]),
    /// A boosting round's gradients `g` and hessians `h` of the loss per
    /// row, and `q = g² / h`: a split maximizes Σ(G²/H) over the children
    /// and a leaf holds the Newton step −G/H (XGBoost's and scikit-learn's
    /// `HistGradientBoosting` gain, without regularization).
    Gradients {
        /// First derivatives of the loss.
        g: &'a [f64],
        /// Second derivatives (positive).
        h: &'a [f64],
        /// `g² / h`, whose sum bounds a node's score (equal when pure).
        q: &'a [f64],
    },
}

/// How a tree grows.
#[derive(Debug, Clone)]
pub struct Growth {
    /// Deepest level (the root is level 0).
    pub max_depth: usize,
    /// Fewest (weighted) rows a node needs to be split.
    pub min_samples_split: f64,
    /// Fewest (weighted) rows each child of a split must keep.
    pub min_samples_leaf: f64,
    /// Features tried per node, drawn at random (all when equal to the count).
    pub max_features: usize,
}

impl Target<'_> {
    /// Statistics kept per bin: class weights, (weight, Σy, Σy²), or
    /// (weight, G, H, Σq).
    fn width(&self) -> usize {
        match self {
            Target::Classes { classes, .. } => *classes,
            Target::Values(_) => 3,
            Target::Gradients { .. } => 4,
        }
    }

    fn add(&self, stats: &mut [f64], row: usize, weight: f64) {
        match self {
            Target::Classes { y, .. } => stats[y[row] as usize] += weight,
            Target::Values(y) => {
                stats[0] += weight;
                stats[1] += weight * y[row];
                stats[2] += weight * y[row] * y[row];
            }
            Target::Gradients { g, h, q } => {
                stats[0] += weight;
                stats[1] += weight * g[row];
                stats[2] += weight * h[row];
                stats[3] += weight * q[row];
            }
        }
    }

    fn weight(&self, stats: &[f64]) -> f64 {
        match self {
            Target::Classes { .. } => stats.iter().sum(),
            Target::Values(_) | Target::Gradients { .. } => stats[0],
        }
    }

    /// The quantity a split maximizes over its children (Σc²/W for Gini,
    /// S²/W for squared error, G²/H for gradients); the weighted impurity
    /// of a node is its weight (or Σy², or Σq) minus this, so a split's
    /// impurity decrease is the children's score minus the parent's.
    fn score(&self, stats: &[f64]) -> f64 {
        let weight = self.weight(stats);
        if weight <= 0.0 {
            return 0.0;
        }
        match self {
            Target::Classes { .. } => stats.iter().map(|c| c * c).sum::<f64>() / weight,
            Target::Values(_) => stats[1] * stats[1] / weight,
            Target::Gradients { .. } if stats[2] > 0.0 => stats[1] * stats[1] / stats[2],
            Target::Gradients { .. } => 0.0,
        }
    }

    /// What the score is subtracted from for the impurity: W, Σy², or Σq.
    /// Also the scale below which differences are rounding error.
    fn total(&self, stats: &[f64]) -> f64 {
        match self {
            Target::Classes { .. } => self.weight(stats),
            Target::Values(_) => stats[2],
            Target::Gradients { .. } => stats[3],
        }
    }

    fn leaf(&self, stats: &[f64]) -> Vec<f64> {
        let weight = self.weight(stats).max(f64::MIN_POSITIVE);
        match self {
            Target::Classes { .. } => stats.iter().map(|c| c / weight).collect(),
            Target::Values(_) => vec![stats[1] / weight],
            Target::Gradients { .. } if stats[2] > 0.0 => vec![-stats[1] / stats[2]],
            Target::Gradients { .. } => vec![0.0],
        }
    }
}

/// A node still to grow: its index, its rows' range, its depth, and its
/// histograms when its parent's split already made them.
type Pending = (usize, usize, usize, usize, Option<Vec<f64>>);

/// The best split of one node found so far.
struct Best {
    feature: usize,
    bin: usize,
    score: f64,
}

impl DecisionTree {
    /// Grows a tree on the rows with a non-zero `weights` entry; returns it
    /// and the impurity decrease credited to each feature.
    ///
    /// When every node tries every feature (trees and boosting, not
    /// forests), a split computes the histograms of its smaller child only
    /// and takes the larger child's as the parent's minus those (LightGBM's
    /// subtraction), so each level reads about half the rows. A node's rows
    /// stay in ascending order (the partition is stable), so its passes
    /// read the per-row arrays front to back.
    pub fn fit(
        bins: &Bins,
        target: Target<'_>,
        weights: &[u32],
        growth: &Growth,
        rng: &mut StdRng,
    ) -> (DecisionTree, Vec<f64>) {
        let features = bins.rows.len();
        let width = target.width();
        let all_features = growth.max_features >= features;
        // Where each feature's histogram starts in a node's histograms.
        let mut offsets = Vec::with_capacity(features + 1);
        offsets.push(0);
        for cuts in &bins.cuts {
            offsets.push(offsets.last().copied().unwrap_or(0) + (cuts.len() + 1) * width);
        }
        let histograms_of = |rows: &[u32], tried: &[usize], out: &mut [f64]| {
            for &feature in tried {
                let row_bins = &bins.rows[feature];
                let histogram = &mut out[offsets[feature]..offsets[feature + 1]];
                histogram.fill(0.0);
                for &row in rows {
                    let bin = usize::from(row_bins[row as usize]);
                    target.add(
                        &mut histogram[bin * width..(bin + 1) * width],
                        row as usize,
                        f64::from(weights[row as usize]),
                    );
                }
            }
        };
        let every_feature: Vec<usize> = (0..features).collect();
        let mut rows: Vec<u32> = (0..weights.len() as u32)
            .filter(|&r| weights[r as usize] > 0)
            .collect();
        let mut scratch = Vec::with_capacity(rows.len());
        let mut importances = vec![0.0; features];
        let mut nodes = vec![Node::Leaf(vec![])];
        let mut left = vec![0.0; width];
        let mut shared = if all_features {
            vec![]
        } else {
            vec![0.0; offsets[features]]
        };
        let mut pending: Vec<Pending> = vec![(0, 0, rows.len(), 0, None)];
        while let Some((node, start, end, depth, known)) = pending.pop() {
            let mut total = vec![0.0; width];
            for &row in &rows[start..end] {
                target.add(&mut total, row as usize, f64::from(weights[row as usize]));
            }
            let weight = target.weight(&total);
            let parent_score = target.score(&total);
            // Gains below this are rounding error: the node is pure.
            let tolerance = 1e-12 * target.total(&total);
            let mut best: Option<Best> = None;
            let splittable = depth < growth.max_depth
                && weight >= growth.min_samples_split
                && weight >= 2.0 * growth.min_samples_leaf
                && target.total(&total) - parent_score > tolerance;
            let mut histograms = Vec::new();
            if splittable {
                let tried = if all_features {
                    every_feature.clone()
                } else {
                    sample(rng, features, growth.max_features).into_vec()
                };
                // A forest's node fills the tried features' histograms of
                // one buffer kept for every node.
                let histograms = match known {
                    Some(known) => {
                        histograms = known;
                        &histograms
                    }
                    None if all_features => {
                        histograms = vec![0.0; offsets[features]];
                        histograms_of(&rows[start..end], &tried, &mut histograms);
                        &histograms
                    }
                    None => {
                        histograms_of(&rows[start..end], &tried, &mut shared);
                        &shared
                    }
                };
                for feature in tried {
                    let histogram = &histograms[offsets[feature]..offsets[feature + 1]];
                    let bin_count = bins.cuts[feature].len() + 1;
                    left.fill(0.0);
                    let mut right = total.clone();
                    for bin in 0..bin_count - 1 {
                        let stats = &histogram[bin * width..(bin + 1) * width];
                        // An empty bin (weights are whole numbers, so
                        // exactly 0 even after a subtraction).
                        if target.weight(stats) == 0.0 {
                            continue;
                        }
                        for k in 0..width {
                            left[k] += stats[k];
                            right[k] -= stats[k];
                        }
                        let (left_weight, right_weight) =
                            (target.weight(&left), target.weight(&right));
                        if left_weight < growth.min_samples_leaf
                            || right_weight < growth.min_samples_leaf
                            || right_weight <= 0.0
                        {
                            continue;
                        }
                        let score = target.score(&left) + target.score(&right);
                        if best.as_ref().is_none_or(|b| score > b.score) {
                            best = Some(Best {
                                feature,
                                bin,
                                score,
                            });
                        }
                    }
                }
            }
            let Some(best) = best.filter(|b| b.score - parent_score > tolerance) else {
                nodes[node] = Node::Leaf(target.leaf(&total));
                continue;
            };
            importances[best.feature] += best.score - parent_score;
            let row_bins = &bins.rows[best.feature];
            let middle = start
                + stable_partition(&mut rows[start..end], &mut scratch, |row| {
                    usize::from(row_bins[row as usize]) <= best.bin
                });
            let (left_node, right_node) = (nodes.len(), nodes.len() + 1);
            nodes.push(Node::Leaf(vec![]));
            nodes.push(Node::Leaf(vec![]));
            nodes[node] = Node::Split {
                feature: best.feature,
                threshold: bins.cuts[best.feature][best.bin],
                left: left_node,
                right: right_node,
            };
            let (mut left_known, mut right_known) = (None, None);
            if all_features && depth + 1 < growth.max_depth {
                // The smaller child's histograms, and the parent's less them.
                let left_smaller = middle - start <= end - middle;
                let smaller_rows = if left_smaller {
                    &rows[start..middle]
                } else {
                    &rows[middle..end]
                };
                let mut smaller = vec![0.0; offsets[features]];
                histograms_of(smaller_rows, &every_feature, &mut smaller);
                histograms
                    .iter_mut()
                    .zip(&smaller)
                    .for_each(|(h, s)| *h -= s);
                if left_smaller {
                    (left_known, right_known) = (Some(smaller), Some(histograms));
                } else {
                    (left_known, right_known) = (Some(histograms), Some(smaller));
                }
            }
            pending.push((right_node, middle, end, depth + 1, right_known));
            pending.push((left_node, start, middle, depth + 1, left_known));
        }
        (DecisionTree { nodes }, importances)
    }

    /// The depth of the deepest leaf (a lone leaf: 0).
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut pending = vec![(0usize, 0usize)];
        while let Some((node, level)) = pending.pop() {
            deepest = deepest.max(level);
            if let Node::Split { left, right, .. } = self.nodes[node] {
                pending.push((left, level + 1));
                pending.push((right, level + 1));
            }
        }
        deepest
    }

    /// Checks a tree read from a file: nodes exist, a split's feature is
    /// below `width` and its children come after it, a leaf holds
    /// `leaf_width` values.
    pub fn check(&self, width: usize, leaf_width: usize) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("it has no nodes".into());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            match node {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    if *feature >= width {
                        return Err(format!("node {i} splits on feature {feature} of {width}"));
                    }
                    if threshold.is_nan() {
                        return Err(format!("node {i} has no threshold"));
                    }
                    for child in [left, right] {
                        if *child <= i || *child >= self.nodes.len() {
                            return Err(format!(
                                "node {i} has child {child}, not a later node of {}",
                                self.nodes.len()
                            ));
                        }
                    }
                }
                Node::Leaf(values) => {
                    if values.len() != leaf_width {
                        return Err(format!(
                            "leaf {i} holds {} values, not {leaf_width}",
                            values.len()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The leaf values for row `row` of `columns` (a tree read from a file
    /// was checked: every walk ends at a leaf).
    pub fn leaf(&self, columns: &[Vec<f64>], row: usize) -> &[f64] {
        let mut node = 0;
        loop {
            match &self.nodes[node] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    node = if columns[*feature][row] <= *threshold {
                        *left
                    } else {
                        *right
                    }
                }
                Node::Leaf(values) => return values,
            }
        }
    }
}

/// Moves the rows for which `goes_left` holds to the front, keeping the
/// order on both sides; returns how many. `scratch` is reused.
fn stable_partition(
    rows: &mut [u32],
    scratch: &mut Vec<u32>,
    goes_left: impl Fn(u32) -> bool,
) -> usize {
    scratch.clear();
    let mut middle = 0;
    for i in 0..rows.len() {
        let row = rows[i];
        if goes_left(row) {
            rows[middle] = row;
            middle += 1;
        } else {
            scratch.push(row);
        }
    }
    rows[middle..].copy_from_slice(scratch);
    middle
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn growth(max_depth: usize) -> Growth {
        Growth {
            max_depth,
            min_samples_split: 2.0,
            min_samples_leaf: 1.0,
            max_features: usize::MAX,
        }
    }

    #[test]
    fn separable_classes_are_learned_exactly() {
        let columns = vec![(0..100).map(f64::from).collect::<Vec<_>>()];
        let y: Vec<u32> = (0..100).map(|i| u32::from(i >= 37)).collect();
        let bins = Bins::new(&columns);
        let (tree, importances) = DecisionTree::fit(
            &bins,
            Target::Classes { y: &y, classes: 2 },
            &[1; 100],
            &growth(usize::MAX),
            &mut StdRng::seed_from_u64(0),
        );
        assert_eq!(tree.nodes.len(), 3);
        assert!(matches!(tree.nodes[0], Node::Split { threshold, .. } if threshold == 36.5));
        for (row, class) in y.iter().enumerate() {
            assert_eq!(tree.leaf(&columns, row)[1], f64::from(*class));
        }
        assert!(importances[0] > 0.0);
    }

    #[test]
    fn regression_leaves_are_means_and_depth_is_bounded() {
        let columns = vec![(0..64).map(f64::from).collect::<Vec<_>>()];
        let y: Vec<f64> = (0..64).map(|i| f64::from(i * i)).collect();
        let bins = Bins::new(&columns);
        let (tree, _) = DecisionTree::fit(
            &bins,
            Target::Values(&y),
            &[1; 64],
            &growth(2),
            &mut StdRng::seed_from_u64(0),
        );
        let leaves: Vec<&Vec<f64>> = tree
            .nodes
            .iter()
            .filter_map(|n| match n {
                Node::Leaf(v) => Some(v),
                Node::Split { .. } => None,
            })
            .collect();
        assert_eq!(leaves.len(), 4);
        // Every row's prediction is the mean of the rows in its leaf.
        let mut sums = std::collections::HashMap::new();
        for (row, value) in y.iter().enumerate() {
            let leaf = tree.leaf(&columns, row).as_ptr() as usize;
            let entry = sums.entry(leaf).or_insert((0.0, 0.0));
            entry.0 += value;
            entry.1 += 1.0;
        }
        for row in 0..64 {
            let leaf = tree.leaf(&columns, row);
            let (sum, count) = sums[&(leaf.as_ptr() as usize)];
            assert!((leaf[0] - sum / count).abs() < 1e-9);
        }
    }
}
