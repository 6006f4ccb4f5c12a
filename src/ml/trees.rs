//! Decision trees and random forests (smartcore's), for classification and
//! regression, over the same encoded features as linear models.

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters,
};
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};

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
    /// Features tried per split in a forest (default: smartcore's, √p).
    pub max_features: Option<usize>,
    /// Random seed (forests).
    pub seed: u64,
}

type Matrix = DenseMatrix<f64>;

/// A fitted tree or forest.
#[derive(Debug, Serialize, Deserialize)]
pub enum TreeModel {
    /// One classification tree.
    ClassifierTree(DecisionTreeClassifier<f64, i64, Matrix, Vec<i64>>),
    /// One regression tree.
    RegressorTree(DecisionTreeRegressor<f64, f64, Matrix, Vec<f64>>),
    /// A classification forest.
    ClassifierForest(RandomForestClassifier<f64, i64, Matrix, Vec<i64>>),
    /// A regression forest.
    RegressorForest(RandomForestRegressor<f64, f64, Matrix, Vec<f64>>),
}

impl Clone for TreeModel {
    fn clone(&self) -> Self {
        // The smartcore models are not Clone; a JSON round trip is exact.
        serde_json::from_value(serde_json::to_value(self).expect("encodable")).expect("decodable")
    }
}

/// What a tree predicts.
pub enum Predictions {
    /// Class indices.
    Classes(Vec<i64>),
    /// Numbers.
    Values(Vec<f64>),
}

fn matrix(x: &[Vec<f64>]) -> Result<Matrix> {
    DenseMatrix::from_2d_vec(&x.to_vec())
        .map_err(|e| Error::Internal(format!("feature matrix: {e}")))
}

fn failed(what: &str) -> impl Fn(smartcore::error::Failed) -> Error + '_ {
    move |e| Error::Data(format!("{what}: {e}"))
}

impl TreeModel {
    /// Fits a classifier on class indices `y`.
    pub fn fit_classifier(x: &[Vec<f64>], y: &[i64], options: &TreeOptions) -> Result<Self> {
        let x = matrix(x)?;
        let y = y.to_vec();
        match options.num_trees {
            None => {
                let mut parameters = DecisionTreeClassifierParameters::default()
                    .with_min_samples_split(options.min_samples_split)
                    .with_min_samples_leaf(options.min_samples_leaf);
                if let Some(depth) = options.max_depth {
                    parameters = parameters.with_max_depth(depth);
                }
                Ok(TreeModel::ClassifierTree(
                    DecisionTreeClassifier::fit(&x, &y, parameters)
                        .map_err(failed("training a tree"))?,
                ))
            }
            Some(trees) => {
                let mut parameters = RandomForestClassifierParameters::default()
                    .with_n_trees(trees)
                    .with_min_samples_split(options.min_samples_split)
                    .with_min_samples_leaf(options.min_samples_leaf)
                    .with_seed(options.seed);
                if let Some(depth) = options.max_depth {
                    parameters = parameters.with_max_depth(depth);
                }
                if let Some(m) = options.max_features {
                    parameters = parameters.with_m(m);
                }
                Ok(TreeModel::ClassifierForest(
                    RandomForestClassifier::fit(&x, &y, parameters)
                        .map_err(failed("training a forest"))?,
                ))
            }
        }
    }

    /// Fits a regressor on values `y`.
    pub fn fit_regressor(x: &[Vec<f64>], y: &[f64], options: &TreeOptions) -> Result<Self> {
        let x = matrix(x)?;
        let y = y.to_vec();
        match options.num_trees {
            None => {
                let mut parameters = DecisionTreeRegressorParameters::default()
                    .with_min_samples_split(options.min_samples_split)
                    .with_min_samples_leaf(options.min_samples_leaf);
                if let Some(depth) = options.max_depth {
                    parameters = parameters.with_max_depth(depth);
                }
                Ok(TreeModel::RegressorTree(
                    DecisionTreeRegressor::fit(&x, &y, parameters)
                        .map_err(failed("training a tree"))?,
                ))
            }
            Some(trees) => {
                let mut parameters = RandomForestRegressorParameters::default()
                    .with_n_trees(trees as usize)
                    .with_min_samples_split(options.min_samples_split)
                    .with_min_samples_leaf(options.min_samples_leaf)
                    .with_seed(options.seed);
                if let Some(depth) = options.max_depth {
                    parameters = parameters.with_max_depth(depth);
                }
                if let Some(m) = options.max_features {
                    parameters = parameters.with_m(m);
                }
                Ok(TreeModel::RegressorForest(
                    RandomForestRegressor::fit(&x, &y, parameters)
                        .map_err(failed("training a forest"))?,
                ))
            }
        }
    }

    /// Predictions for encoded rows.
    pub fn predict(&self, x: &[Vec<f64>]) -> Result<Predictions> {
        if x.is_empty() {
            return Ok(match self {
                TreeModel::ClassifierTree(_) | TreeModel::ClassifierForest(_) => {
                    Predictions::Classes(vec![])
                }
                _ => Predictions::Values(vec![]),
            });
        }
        let x = matrix(x)?;
        Ok(match self {
            TreeModel::ClassifierTree(m) => {
                Predictions::Classes(m.predict(&x).map_err(failed("predicting"))?)
            }
            TreeModel::ClassifierForest(m) => {
                Predictions::Classes(m.predict(&x).map_err(failed("predicting"))?)
            }
            TreeModel::RegressorTree(m) => {
                Predictions::Values(m.predict(&x).map_err(failed("predicting"))?)
            }
            TreeModel::RegressorForest(m) => {
                Predictions::Values(m.predict(&x).map_err(failed("predicting"))?)
            }
        })
    }

    /// Feature importances per encoded column, where smartcore has them.
    pub fn importances(&self) -> Option<Vec<f64>> {
        match self {
            TreeModel::ClassifierTree(m) => Some(m.compute_feature_importances(true)),
            TreeModel::RegressorTree(m) => m.compute_feature_importances(true).ok(),
            TreeModel::RegressorForest(m) => m.compute_feature_importances().ok(),
            TreeModel::ClassifierForest(_) => None,
        }
    }
}
