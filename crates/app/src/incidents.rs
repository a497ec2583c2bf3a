//! Saved incidents: `incidents/NAME.toml` in the data dir.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tracehound_trace::Incident;

use crate::{AppError, DataDir};

/// An incident as listed.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    /// Its name (the file's stem).
    pub name: String,
    /// Where it is saved (not answered by the API: a path inside the server).
    #[serde(skip_serializing)]
    pub path: String,
    /// Stolen txs or outputs it names.
    pub stolen: usize,
    /// Source addresses it names.
    pub sources: usize,
}

/// An incident with where it is saved.
#[derive(Debug, Clone)]
pub struct SavedIncident {
    /// Where it is saved.
    pub path: PathBuf,
    /// What it says.
    pub incident: Incident,
}

/// Whether `name` can name a saved incident: a file name of its own, nothing that reaches
/// out of the incidents folder.
pub fn check_name(name: &str) -> Result<(), AppError> {
    let bad = name.is_empty()
        || name.len() > 200
        || name.contains(['/', '\\', '\0'])
        || name.starts_with('.');
    if bad {
        return Err(AppError::Invalid(format!(
            "incident name {name:?} must be 1–200 characters, not start with a dot and hold no / or \\"
        )));
    }
    Ok(())
}

/// What a trace was run with (kept next to its result, cited by its evidence report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TraceSettings {
    /// Taint policy.
    pub policy: String,
    /// Hops followed.
    pub max_hops: u32,
    /// Whether links were followed.
    pub follow_links: bool,
    /// Lowest link confidence followed.
    pub min_link_confidence: u8,
    /// Dust thresholds per asset, base units.
    #[serde(default)]
    pub dust: std::collections::BTreeMap<String, String>,
}

impl TraceSettings {
    /// The settings of `rules`.
    pub fn of(rules: &tracehound_trace::Rules) -> TraceSettings {
        TraceSettings {
            policy: rules.policy.to_string(),
            max_hops: rules.max_hops,
            follow_links: rules.links.follow,
            min_link_confidence: rules.links.min_confidence,
            dust: rules
                .dust
                .iter()
                .map(|(a, u)| (a.clone(), u.to_string()))
                .collect(),
        }
    }
}

impl TraceSettings {
    /// Rules that trace again as these settings did, with `labels` and the link `config`
    /// (what a watcher traces a kept incident with as new blocks come).
    pub fn rules(
        &self,
        labels: tracehound_trace::Labels,
        config: tracehound_core::LinkConfig,
    ) -> Result<tracehound_trace::Rules, AppError> {
        let policy = self
            .policy
            .parse()
            .map_err(|e: String| AppError::Invalid(format!("kept trace settings: {e}")))?;
        let mut rules = tracehound_trace::Rules::new(policy);
        rules.max_hops = self.max_hops;
        rules.labels = labels;
        rules.links.follow = self.follow_links;
        rules.links.min_confidence = self.min_link_confidence;
        rules.links.config = config;
        for (asset, units) in &self.dust {
            let units = units.parse().map_err(|_| {
                AppError::Invalid(format!("kept trace settings: dust {asset}={units:?}"))
            })?;
            rules.dust.insert(asset.clone(), units);
        }
        Ok(rules)
    }
}

fn write_whole(path: &Path, text: &str) -> Result<(), AppError> {
    write_whole_with(path, |w| {
        w.write_all(text.as_bytes()).map_err(AppError::io(path))
    })
}

/// Writes `path` by `write` into a temporary file then renamed over it, so a reader never
/// sees it half-written; the text is streamed, never held whole.
fn write_whole_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let tmp = write_temporary(path, write)?;
    std::fs::rename(&tmp, path).map_err(AppError::io(path))
}

/// The first half of [`write_whole_with`]: `path`'s new text, written by `write` beside it
/// under a temporary name, returned to be renamed over it (nothing is left behind on error).
fn write_temporary(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), AppError>,
) -> Result<PathBuf, AppError> {
    // A name of its own per write: concurrent saves of one file never rename each other's
    // half-written temporary.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .map_err(AppError::io(&tmp))
        .and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            write(&mut w)?;
            w.into_inner()
                .map_err(|e| AppError::Io {
                    path: tmp.clone(),
                    source: e.into_error(),
                })
                .map(drop)
        });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

impl DataDir {
    /// Where saved incidents live.
    pub fn incidents_dir(&self) -> PathBuf {
        self.root.join("incidents")
    }

    /// An incident file by path, or by the name it was saved under.
    pub fn find_incident(&self, which: &str) -> Result<PathBuf, AppError> {
        let p = Path::new(which);
        if p.exists() {
            return Ok(p.to_path_buf());
        }
        self.saved_incident_path(which).map_err(|_| {
            AppError::NotFound(format!(
                "no incident file {which} and no saved incident named {which:?} in {} (see `tracehound incident list`)",
                self.incidents_dir().display()
            ))
        })
    }

    /// A saved incident's file, by name only (never a path: what the API takes).
    pub fn saved_incident_path(&self, name: &str) -> Result<PathBuf, AppError> {
        let saved = self.incidents_dir().join(format!("{name}.toml"));
        if check_name(name).is_ok() && saved.exists() {
            return Ok(saved);
        }
        // Named without the server's folder: the API answers with this text.
        Err(AppError::NotFound(format!(
            "no saved incident named {name:?} (see `tracehound incident list`)"
        )))
    }

    /// Reads an incident file.
    pub fn read_incident(&self, path: &Path) -> Result<Incident, AppError> {
        Incident::from_file(path).map_err(|e| AppError::Invalid(format!("{}: {e}", path.display())))
    }

    /// Every saved incident, by name.
    pub fn list_incidents(&self) -> Result<Vec<IncidentSummary>, AppError> {
        let dir = self.incidents_dir();
        let mut rows = Vec::new();
        if !dir.exists() {
            return Ok(rows);
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(AppError::io(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let i = self.read_incident(&p)?;
            rows.push(IncidentSummary {
                name: p
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
                path: p.display().to_string(),
                stolen: i.stolen.len(),
                sources: i.sources.len(),
            });
        }
        Ok(rows)
    }

    /// Saves `incident` under its name (or at `path`), refusing to overwrite unless `force`.
    pub fn save_incident(
        &self,
        incident: &Incident,
        path: Option<&Path>,
        force: bool,
    ) -> Result<PathBuf, AppError> {
        incident.validate().map_err(AppError::Invalid)?;
        check_name(&incident.name)?;
        let (path, shown) = match path {
            Some(p) => (p.to_path_buf(), p.display().to_string()),
            None => {
                let dir = self.incidents_dir();
                std::fs::create_dir_all(&dir).map_err(AppError::io(&dir))?;
                // Named, not pathed: the message may reach an API client.
                let shown = format!("incident {:?}", incident.name);
                (dir.join(format!("{}.toml", incident.name)), shown)
            }
        };
        if path.exists() && !force {
            return Err(AppError::Exists(format!(
                "{shown} exists (use --force to overwrite)"
            )));
        }
        // Written whole then renamed: a crash never leaves half an incident.
        write_whole(&path, &incident.to_toml())?;
        Ok(path)
    }

    /// Where the last trace result of saved incident `name` is kept.
    pub fn result_path(&self, name: &str) -> PathBuf {
        self.incidents_dir().join(format!("{name}.result.json"))
    }

    /// Keeps `result` as the last trace result of saved incident `name` (its JSON, as
    /// `tracehound trace --json` prints it) with the settings it was traced under.
    pub fn save_result(
        &self,
        name: &str,
        result: &tracehound_trace::TraceResult,
        settings: &TraceSettings,
    ) -> Result<(), AppError> {
        self.keep_result(name, settings, |w, path| {
            serde_json::to_writer(w, result).map_err(|e| {
                if e.is_io() {
                    AppError::Io {
                        path: path.to_path_buf(),
                        source: e.into(),
                    }
                } else {
                    AppError::Invalid(format!("encoding the trace result: {e}"))
                }
            })
        })
    }

    /// [`DataDir::save_result`] of a result already encoded as `json` (a caller that also
    /// answers with it).
    pub fn save_result_json(
        &self,
        name: &str,
        json: &str,
        settings: &TraceSettings,
    ) -> Result<(), AppError> {
        self.keep_result(name, settings, |w, path| {
            w.write_all(json.as_bytes()).map_err(AppError::io(path))
        })
    }

    /// Writes `name`'s result by `write` (given the result's path, for errors) and its
    /// settings. The result is written first, under a temporary name, and renamed into place
    /// last: a result that cannot be written leaves the last one and its settings as they
    /// were.
    fn keep_result(
        &self,
        name: &str,
        settings: &TraceSettings,
        write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>, &Path) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        check_name(name)?;
        let path = self.result_path(name);
        let tmp = write_temporary(&path, |w| write(w, &path))?;
        if let Err(e) = self.save_settings(name, settings) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, &path).map_err(AppError::io(&path))
    }

    /// The settings a result of `name` is traced under, written before the result: a result
    /// is never kept without them.
    fn save_settings(&self, name: &str, settings: &TraceSettings) -> Result<(), AppError> {
        check_name(name)?;
        let settings = serde_json::to_string(settings)
            .map_err(|e| AppError::Invalid(format!("encoding the trace settings: {e}")))?;
        write_whole(&self.settings_path(name), &settings)
    }

    fn settings_path(&self, name: &str) -> PathBuf {
        self.incidents_dir().join(format!("{name}.settings.json"))
    }

    /// The settings the last kept result of `name` was traced under.
    pub fn load_settings(&self, name: &str) -> Result<TraceSettings, AppError> {
        let path = self.settings_path(name);
        let text = std::fs::read_to_string(&path).map_err(AppError::io(&path))?;
        serde_json::from_str(&text)
            .map_err(|e| AppError::Invalid(format!("{}: {e}", path.display())))
    }

    /// The last trace result of saved incident `name`, as JSON.
    pub fn load_result(&self, name: &str) -> Result<String, AppError> {
        self.saved_incident_path(name)?;
        std::fs::read_to_string(self.result_path(name)).map_err(|_| {
            AppError::NotFound(format!(
                "incident {name:?} has not been traced yet: POST /api/v1/incidents/{name}/trace"
            ))
        })
    }
}
