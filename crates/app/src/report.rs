//! The evidence report of a saved incident's kept trace result (see `tracehound-report`),
//! with the labels, asset decimals and store tips looked up here.

use std::collections::BTreeMap;

use tracehound_core::Chain;
use tracehound_report::{AssetFacts, ChainTip, Evidence, Inputs, LabelDoc, RulesDoc};
use tracehound_store::Store;

use crate::{AppError, DataDir};

impl DataDir {
    /// The evidence report of saved incident `name`'s last trace: every point of
    /// intervention (or only `endpoint`) with its proof, made at `now` (unix seconds).
    pub fn evidence(
        &self,
        store: &Store,
        name: &str,
        endpoint: Option<&str>,
        now: u64,
    ) -> Result<Evidence, AppError> {
        let path = self.saved_incident_path(name)?;
        let incident_text = std::fs::read_to_string(&path).map_err(|source| AppError::Io {
            path: path.clone(),
            source,
        })?;
        let result_json = self.load_result(name)?;
        let settings = self.load_settings(name)?;
        let tips = store
            .status()
            .map_err(AppError::store("reading the store's tips"))?
            .into_iter()
            .filter_map(|c| {
                c.tip.map(|t| ChainTip {
                    chain: c.chain.name(),
                    height: t.height,
                    hash: t.hash.to_string(),
                })
            })
            .collect();
        let label_store = self.label_store()?;
        let label_sources: BTreeMap<String, u64> = match &label_store {
            Some(l) => l
                .sources()
                .map_err(AppError::labels("reading the label sources"))?
                .into_iter()
                .map(|s| (s.source, s.tags))
                .collect(),
            None => BTreeMap::new(),
        };
        let labels = |chain: &str, address: &str| -> Vec<LabelDoc> {
            let (Some(l), Ok(c)) = (&label_store, chain.parse::<Chain>()) else {
                return Vec::new();
            };
            l.tags_of(c, address)
                .unwrap_or_default()
                .into_iter()
                .map(|t| LabelDoc {
                    label: t.label,
                    category: t.category.name().to_string(),
                    source: t.source,
                    confidence: t.confidence,
                    reference: t.reference,
                })
                .collect()
        };
        let assets = |chain: &str, asset: &str| -> AssetFacts {
            let Ok(c) = chain.parse::<Chain>() else {
                return AssetFacts::default();
            };
            let (symbol, decimals) = store.asset_info(c, asset).unwrap_or((None, None));
            AssetFacts { symbol, decimals }
        };
        let inputs = Inputs {
            incident_text: &incident_text,
            result_json: &result_json,
            rules: RulesDoc {
                policy: settings.policy,
                max_hops: settings.max_hops,
                follow_links: settings.follow_links,
                min_link_confidence: settings.min_link_confidence,
                dust: settings.dust,
                label_sources,
            },
            tips,
            labels: &labels,
            assets: &assets,
            endpoint,
            generated: now,
            tool: format!("tracehound {}", env!("CARGO_PKG_VERSION")),
        };
        Evidence::build(&inputs).map_err(|e| match e {
            tracehound_report::ReportError::NoSuchEndpoint(a) => AppError::NotFound(format!(
                "{a} is not an endpoint of incident {name:?}'s trace"
            )),
            other => AppError::Invalid(format!("incident {name:?}: {other}")),
        })
    }
}
