//! The model registry: every training run is a new version, stored as a
//! JSON file under `<data-dir>/models/<name>/v<version>.json`.
//!
//! Unpinned PREDICT and EVALUATE use the newest version, or the one
//! `ALTER MODEL m SET VERSION n` pinned (a rollback: the number is in
//! `<name>/current`) until the next training; `'m@3'` names version 3.
//!
//! The file format is versioned (`format_version`); a file that cannot be
//! read or parsed is an error naming the file, never a crash. Files are
//! written under a temporary name and renamed, so a half-written model is
//! never seen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::boosting::BoostedModel;
use super::features::{Encoded, Feature};
use super::kmeans::KMeansModel;
use super::linear::LinearModel;
use super::logistic::LogisticModel;
use super::predictions::Predictions;
use super::trees::TreeModel;
use crate::error::{Error, Result};

/// The current file format.
/// Version 2: trees and forests are flowsql's own (version 1 held smartcore's).
pub const FORMAT_VERSION: u32 = 2;

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A number.
    Regression,
    /// One of the label's classes.
    Classification,
    /// A cluster (no label).
    Clustering,
}

impl Task {
    /// As model files and `task => ...` write it.
    pub fn name(self) -> &'static str {
        match self {
            Task::Regression => "regression",
            Task::Classification => "classification",
            Task::Clustering => "clustering",
        }
    }

    /// From [`Task::name`].
    pub fn parse(text: &str) -> Option<Self> {
        [Task::Regression, Task::Classification, Task::Clustering]
            .into_iter()
            .find(|t| t.name() == text)
    }
}

/// A model's fitted parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "FittedFields", into = "FittedFields")]
pub enum Fitted {
    /// Least squares.
    Linear(LinearModel),
    /// A tree or a forest.
    Tree(TreeModel),
    /// Logistic regression.
    Logistic(LogisticModel),
    /// k-means centers.
    KMeans(KMeansModel),
    /// Gradient-boosted trees.
    Boosted(BoostedModel),
}

/// How a model file holds its fit: one field per kind (`linear`, `tree`,
/// `logistic`, `kmeans`, `boosted`), the others null or absent (the layout of files
/// written before [`Fitted`], which had only the first two).
#[derive(Serialize, Deserialize, Default)]
struct FittedFields {
    linear: Option<LinearModel>,
    #[serde(default)]
    tree: Option<TreeModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    logistic: Option<LogisticModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kmeans: Option<KMeansModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    boosted: Option<BoostedModel>,
}

impl TryFrom<FittedFields> for Fitted {
    type Error = String;

    fn try_from(fields: FittedFields) -> std::result::Result<Self, String> {
        let mut fits = Vec::new();
        fits.extend(fields.linear.map(Fitted::Linear));
        fits.extend(fields.tree.map(Fitted::Tree));
        fits.extend(fields.logistic.map(Fitted::Logistic));
        fits.extend(fields.kmeans.map(Fitted::KMeans));
        fits.extend(fields.boosted.map(Fitted::Boosted));
        match fits.len() {
            0 => Err("it has no fitted parameters".into()),
            1 => Ok(fits.pop().expect("one fit")),
            _ => Err("it has more than one kind of fit".into()),
        }
    }
}

impl From<Fitted> for FittedFields {
    fn from(fitted: Fitted) -> Self {
        let mut fields = FittedFields::default();
        match fitted {
            Fitted::Linear(linear) => fields.linear = Some(linear),
            Fitted::Tree(tree) => fields.tree = Some(tree),
            Fitted::Logistic(logistic) => fields.logistic = Some(logistic),
            Fitted::KMeans(kmeans) => fields.kmeans = Some(kmeans),
            Fitted::Boosted(boosted) => fields.boosted = Some(boosted),
        }
        fields
    }
}

/// One trained version of a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFile {
    /// The file format's version.
    pub format_version: u32,
    /// The model's name.
    pub name: String,
    /// Its version, from 1.
    pub version: u32,
    /// `linear_regression`.
    pub algorithm: String,
    /// `regression` or `classification`.
    pub task: String,
    /// The label column.
    pub label: String,
    /// The input columns and their encodings.
    pub features: Vec<Feature>,
    /// Training parameters, as given.
    pub parameters: BTreeMap<String, String>,
    /// Training metrics (`r2`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// Rows trained on.
    pub rows: u64,
    /// Rows skipped by `handle_invalid => 'skip'`.
    pub skipped: u64,
    /// The fitted model (in the file: `linear` or `tree`, the other null).
    #[serde(flatten)]
    pub fitted: Fitted,
    /// Classification: the label's classes, by index.
    #[serde(default)]
    pub classes: Vec<String>,
}

impl ModelFile {
    /// What the model predicts (a loaded file's task is checked to be one).
    pub fn task(&self) -> Task {
        Task::parse(&self.task).unwrap_or(Task::Regression)
    }

    /// Predictions for encoded rows.
    pub fn predict(&self, encoded: &Encoded) -> Result<Predictions> {
        let (columns, rows) = (&encoded.columns, encoded.rows());
        Ok(match &self.fitted {
            Fitted::Tree(tree) => tree.predict(columns, rows),
            Fitted::Linear(linear) => Predictions::Values(linear.predict(columns, rows)),
            Fitted::Logistic(logistic) => {
                let (classes, probabilities) = logistic.predict(columns, rows);
                Predictions::Classes(classes, probabilities)
            }
            Fitted::KMeans(kmeans) => {
                let (clusters, distances) = kmeans.assign(columns, rows);
                Predictions::Clusters(clusters, distances)
            }
            Fitted::Boosted(boosted) => boosted.predict(columns, rows),
        })
    }

    /// Feature importances per encoded column (trees, forests and boosted
    /// trees).
    pub fn importances(&self) -> Option<&[f64]> {
        match &self.fitted {
            Fitted::Tree(tree) => Some(&tree.importances),
            Fitted::Boosted(boosted) => Some(&boosted.importances),
            _ => None,
        }
    }

    /// The tree or forest, for a tree model.
    pub fn tree(&self) -> Option<&TreeModel> {
        match &self.fitted {
            Fitted::Tree(tree) => Some(tree),
            _ => None,
        }
    }

    /// The linear fit, for a linear model.
    pub fn linear(&self) -> Option<&LinearModel> {
        match &self.fitted {
            Fitted::Linear(linear) => Some(linear),
            _ => None,
        }
    }

    /// The logistic fit, for a logistic model.
    pub fn logistic(&self) -> Option<&LogisticModel> {
        match &self.fitted {
            Fitted::Logistic(logistic) => Some(logistic),
            _ => None,
        }
    }

    /// The cluster centers, for a k-means model.
    pub fn kmeans(&self) -> Option<&KMeansModel> {
        match &self.fitted {
            Fitted::KMeans(kmeans) => Some(kmeans),
            _ => None,
        }
    }
}

impl ModelFile {
    /// Checks that the fitted model fits its features, so that predicting
    /// with it can neither index out of bounds nor loop: a file may have
    /// been damaged or written by hand.
    fn check(&self) -> std::result::Result<(), String> {
        check_name(&self.name).map_err(|e| e.to_string())?;
        if self.features.is_empty() {
            return Err("it has no features".into());
        }
        let width: usize = self.features.iter().map(Feature::width).sum();
        if let Some(linear) = self.linear() {
            if linear.coefficients.len() != width {
                return Err(format!(
                    "it has {} coefficients for {width} encoded features",
                    linear.coefficients.len()
                ));
            }
        }
        let Some(task) = Task::parse(&self.task) else {
            return Err(format!(
                "its task '{}' is not classification, regression or clustering",
                self.task
            ));
        };
        let classification = task == Task::Classification;
        let fits = match &self.fitted {
            Fitted::Linear(_) => task == Task::Regression,
            Fitted::Tree(_) => task != Task::Clustering,
            Fitted::Logistic(_) => classification,
            Fitted::KMeans(_) => task == Task::Clustering,
            Fitted::Boosted(boosted) => {
                task != Task::Clustering && boosted.classes.is_some() == classification
            }
        };
        if !fits {
            return Err(format!(
                "it is a {} model with a fit of another kind",
                self.task
            ));
        }
        if let Some(logistic) = self.logistic() {
            if self.classes.len() != logistic.classes() {
                return Err("its classes do not match its coefficients".into());
            }
            logistic.check(width)?;
        }
        if let Some(kmeans) = self.kmeans() {
            kmeans.check(width)?;
        }
        if let Fitted::Boosted(boosted) = &self.fitted {
            if classification && boosted.classes != Some(self.classes.len()) {
                return Err("its classes do not match its trees".into());
            }
            boosted.check(width)?;
        }
        if let Some(tree) = self.tree() {
            if tree.classes.is_some() != classification {
                return Err(format!(
                    "it is a {} model with a tree of the other kind",
                    self.task
                ));
            }
        }
        if let Some(tree) = self.tree() {
            if classification
                && (self.classes.is_empty() || tree.classes != Some(self.classes.len()))
            {
                return Err("its classes do not match its trees".into());
            }
            tree.check(width)?;
        }
        Ok(())
    }
}

/// A model name: letters, digits, `_` and `-` (SPEC section 4), so that it
/// is always one directory of the registry.
pub fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(Error::query(format!(
            "'{name}' is not a model name: use letters, digits, '_' and '-' (at most 128)"
        )))
    }
}

/// The file holding the pinned version of a model.
const PIN_FILE: &str = "current";

/// The version in a file name `v<N>.json`.
fn version_of(file: &str) -> Option<u32> {
    file.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()
}

/// The models under a data directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Registry {
            dir: data_dir.join("models"),
        }
    }

    /// Stores `model` as the next version of its name; returns the version.
    pub fn save(&self, mut model: ModelFile) -> Result<u32> {
        let dir = self.model_dir(&model.name)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::External(format!("cannot create '{}': {e}", dir.display())))?;
        let newest = self.version_numbers(&model.name)?.last().copied();
        model.version = newest.unwrap_or(0).checked_add(1).ok_or_else(|| {
            Error::query(format!(
                "model '{}' has reached the highest version number ({}); DROP MODEL it or \
                 train under another name",
                model.name,
                u32::MAX
            ))
        })?;
        model.format_version = FORMAT_VERSION;
        let path = dir.join(format!("v{}.json", model.version));
        let staging = dir.join(format!(".v{}.json.tmp", model.version));
        let text = serde_json::to_string_pretty(&model)
            .map_err(|e| Error::Internal(format!("cannot encode model: {e}")))?;
        std::fs::write(&staging, text)
            .and_then(|()| std::fs::rename(&staging, &path))
            .map_err(|e| Error::External(format!("cannot write '{}': {e}", path.display())))?;
        // The new version ends a rollback: unpinned calls use it.
        self.unpin(&model.name)?;
        Ok(model.version)
    }

    /// The names of all models, sorted: the directories of the registry
    /// (one whose name is no model name is listed, to be shown broken).
    pub fn names(&self) -> Result<Vec<String>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(vec![]);
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every version of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<ModelFile>> {
        let numbers = self.version_numbers(name)?;
        if numbers.is_empty() {
            return Err(self.unknown(name));
        }
        numbers
            .into_iter()
            .map(|v| self.load(&self.file(name, v)?))
            .collect()
    }

    /// How many versions `name` has.
    pub fn version_count(&self, name: &str) -> Result<usize> {
        Ok(self.version_numbers(name)?.len())
    }

    /// The version `spec` names: `'m@3'` is version 3 of `m`; a plain
    /// name is its current version (the pinned one, else the newest).
    pub fn current(&self, spec: &str) -> Result<ModelFile> {
        let (name, version) = self.resolve(spec)?;
        self.load(&self.file(name, version)?)
    }

    /// Version `version` of `name`.
    pub fn version(&self, name: &str, version: u32) -> Result<ModelFile> {
        let version = self.existing(name, Some(version))?;
        self.load(&self.file(name, version)?)
    }

    /// The model and version `spec` names (`m` or `m@3`), checked to exist.
    fn resolve<'a>(&self, spec: &'a str) -> Result<(&'a str, u32)> {
        let (name, version) = match spec.rsplit_once('@') {
            Some((name, v)) => {
                let v = v.parse::<u32>().map_err(|_| {
                    Error::query(format!(
                        "'{spec}': write 'model@<version number>', e.g. '{name}@1'"
                    ))
                })?;
                (name, Some(v))
            }
            None => (spec, None),
        };
        Ok((name, self.existing(name, version)?))
    }

    /// `version` of `name`, or its current one, checked to exist.
    fn existing(&self, name: &str, version: Option<u32>) -> Result<u32> {
        let numbers = self.version_numbers(name)?;
        let Some(newest) = numbers.last().copied() else {
            return Err(self.unknown(name));
        };
        let version = match version {
            Some(v) => v,
            None => self
                .pinned(name)?
                .filter(|v| numbers.contains(v))
                .unwrap_or(newest),
        };
        if !numbers.contains(&version) {
            let list: Vec<String> = numbers.iter().map(u32::to_string).collect();
            return Err(Error::query(format!(
                "model '{name}' has no version {version}; it has {}",
                list.join(", ")
            )));
        }
        Ok(version)
    }

    /// The version `ALTER MODEL ... SET VERSION` pinned, if any.
    fn pinned(&self, name: &str) -> Result<Option<u32>> {
        let path = self.model_dir(name)?.join(PIN_FILE);
        Ok(std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok()))
    }

    /// `ALTER MODEL name SET VERSION version`: unpinned calls use it until
    /// the next training.
    pub fn pin(&self, name: &str, version: u32) -> Result<()> {
        self.existing(name, Some(version))?;
        let dir = self.model_dir(name)?;
        let (path, staging) = (dir.join(PIN_FILE), dir.join(".current.tmp"));
        std::fs::write(&staging, version.to_string())
            .and_then(|()| std::fs::rename(&staging, &path))
            .map_err(|e| Error::External(format!("cannot write '{}': {e}", path.display())))
    }

    fn unpin(&self, name: &str) -> Result<()> {
        let path = self.model_dir(name)?.join(PIN_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::External(format!(
                "cannot remove '{}': {e}",
                path.display()
            ))),
            _ => Ok(()),
        }
    }

    /// `DROP MODEL name VERSION version`; dropping the last version drops
    /// the model, and dropping the pinned one ends the pin.
    pub fn drop_version(&self, name: &str, version: u32) -> Result<()> {
        self.existing(name, Some(version))?;
        if self.version_numbers(name)?.len() == 1 {
            return self.drop_model(name);
        }
        if self.pinned(name)? == Some(version) {
            self.unpin(name)?;
        }
        let path = self.file(name, version)?;
        std::fs::remove_file(&path)
            .map_err(|e| Error::External(format!("cannot remove '{}': {e}", path.display())))
    }

    /// The file of the version `spec` names (see [`Registry::current`]),
    /// and when it last changed.
    pub fn current_file(&self, spec: &str) -> Result<(PathBuf, std::time::SystemTime)> {
        let (name, v) = self.resolve(spec)?;
        let path = self.file(name, v)?;
        let changed = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|e| {
                Error::External(format!("cannot read model file '{}': {e}", path.display()))
            })?;
        Ok((path, changed))
    }

    /// The file of version `version` of `name`.
    pub fn file(&self, name: &str, version: u32) -> Result<PathBuf> {
        Ok(self.model_dir(name)?.join(format!("v{version}.json")))
    }

    /// The directory of model `name`, a checked model name: never a path
    /// outside the registry.
    fn model_dir(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }

    /// Removes `name`'s versions, the registry's own files: `v<N>.json` and
    /// unfinished `.v<N>.json.tmp` files; then its directory, if nothing
    /// else is in it.
    pub fn drop_model(&self, name: &str) -> Result<()> {
        if self.version_numbers(name)?.is_empty() {
            return Err(self.unknown(name));
        }
        let dir = self.model_dir(name)?;
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::External(format!("cannot read '{}': {e}", dir.display())))?;
        for entry in entries.filter_map(|e| e.ok()) {
            let file = entry.file_name().to_string_lossy().into_owned();
            let own = version_of(&file)
                .or_else(|| version_of(file.strip_prefix('.')?.strip_suffix(".tmp")?))
                .is_some()
                || file == PIN_FILE
                || file == ".current.tmp";
            if own && entry.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::remove_file(entry.path()).map_err(|e| {
                    Error::External(format!("cannot remove '{}': {e}", entry.path().display()))
                })?;
            }
        }
        // Anything else someone put there stays, and so does the directory.
        let _ = std::fs::remove_dir(&dir);
        Ok(())
    }

    fn version_numbers(&self, name: &str) -> Result<Vec<u32>> {
        let Ok(entries) = std::fs::read_dir(self.model_dir(name)?) else {
            return Ok(vec![]);
        };
        let mut numbers: Vec<u32> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| version_of(&e.file_name().to_string_lossy()))
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Reads and checks one model file.
    pub fn load(&self, path: &Path) -> Result<ModelFile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::External(format!("cannot read model file '{}': {e}", path.display()))
        })?;
        let model: ModelFile = serde_json::from_str(&text).map_err(|e| {
            Error::Data(format!(
                "model file '{}' is corrupt or not a flowsql model: {e}",
                path.display()
            ))
        })?;
        if model.format_version != FORMAT_VERSION {
            return Err(Error::Data(format!(
                "model file '{}' has format version {}, this flowsql reads version \
                 {FORMAT_VERSION}; train the model again",
                path.display(),
                model.format_version
            )));
        }
        model.check().map_err(|problem| {
            Error::Data(format!(
                "model file '{}' is damaged: {problem}; train the model again",
                path.display()
            ))
        })?;
        Ok(model)
    }

    fn unknown(&self, name: &str) -> Error {
        if let Err(e) = check_name(name) {
            return e;
        }
        let known = self.names().unwrap_or_default();
        Error::query(format!(
            "there is no model '{name}'; {}",
            if known.is_empty() {
                "none has been trained yet (TRAIN_LINEAR makes one)".to_string()
            } else {
                format!("the models are: {}", known.join(", "))
            }
        ))
    }
}
