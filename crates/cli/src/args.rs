//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tracehound_core::Chain;
use tracehound_store::StoreOptions;
use tracehound_store::bulk::utxo_set::UtxoSetOptions;

/// tracehound: an open blockchain forensics engine.
#[derive(Debug, Parser)]
#[command(name = "tracehound", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes, before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// Where the store lives [default: $TRACEHOUND_DATA_DIR, else ~/.tracehound]
    #[arg(long, global = true, env = "TRACEHOUND_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Page cache of the store, in MiB.
    #[arg(long, global = true, default_value_t = 1024)]
    pub(crate) cache_mb: usize,
    /// RAM for each UTXO chain's set of unspent outputs during ingest, in MiB; beyond it the
    /// older outputs spill to sorted files on disk (as Bitcoin Core's -dbcache).
    #[arg(
        long,
        global = true,
        default_value_t = 4096,
        env = "TRACEHOUND_UTXO_CACHE_MB"
    )]
    pub(crate) utxo_cache_mb: usize,
}

impl Global {
    /// How to open the store, from the global options.
    pub(crate) fn store_options(&self) -> StoreOptions {
        StoreOptions {
            cache_bytes: self.cache_mb << 20,
            utxo: UtxoSetOptions::for_ram_bytes(self.utxo_cache_mb << 20),
            ..StoreOptions::default()
        }
    }

    /// The data dir, with the store options of the global flags.
    pub(crate) fn data(&self) -> tracehound_app::DataDir {
        tracehound_app::DataDir::new(self.data_dir(), self.store_options())
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".tracehound")
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read blocks from a chain into the store (resumable; re-run to continue).
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// What the store holds, per chain.
    Status,
    /// Show a transaction with resolved inputs and the spender of each output.
    Tx(TxArgs),
    /// Show an address: balance, totals and its transactions.
    Address(AddressArgs),
    /// Export the store's tables.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Run the main job end to end on generated data (self-contained).
    Demo(DemoArgs),
    /// Benchmarks of the hot paths.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The heist simulator: laundering scenarios with known ground truth.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Follow stolen value hop by hop to its endpoints under a taint policy, with proof.
    Trace(TraceArgs),
    /// Incidents: the thefts a trace starts from, saved in the data dir.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Bring data exported from elsewhere into the store.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Address labels: import public tag sets, list and search them, add your own.
    #[command(subcommand)]
    Labels(LabelsCommand),
    /// Cluster addresses into entities (co-spend with a CoinJoin guard; change with --change;
    /// EVM deposit addresses from exchange labels) and save the result in the data dir.
    Cluster(ClusterArgs),
    /// Entities found by `tracehound cluster`.
    #[command(subcommand)]
    Entity(EntityCommand),
    /// Screen addresses: exposure to stolen (saved incidents), sanctioned and mixer funds, in
    /// and out, with a risk level and its reasons; `screen index` builds what it reads.
    Screen(ScreenArgs),
    /// Laundering patterns (peel chains, fan-out, fan-in, gather-scatter, rapid hops, mixer
    /// use, chain hops, structuring) along a traced incident or around an address.
    Patterns(PatternsArgs),
    /// Evidence report for a freeze request: every point of intervention of a saved
    /// incident's last trace, with the path of txs that proves its amount.
    Report(ReportArgs),
    /// Serve the HTTP API (JSON, OpenAPI at /api/openapi.json, reference at /api/docs).
    Serve(ServeArgs),
    /// API tokens: create (shown once, stored hashed), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Follow a chain's tip over JSON-RPC: ingest each new block (unwinding reorgs), trace
    /// the saved incidents again and raise alerts, delivered to webhook subscriptions.
    Watch(WatchArgs),
    /// Alerts raised by `tracehound watch` (the data dir's outbox).
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Webhook subscriptions: where `tracehound watch` delivers alerts (signed, retried).
    #[command(subcommand)]
    Subscription(SubscriptionCommand),
    /// Batch jobs over a Parquet dataset (`tracehound export parquet`), as DataFusion plans:
    /// balances, co-spend clustering, multi-hop trace.
    #[command(subcommand)]
    Jobs(JobsCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// Run one job and write its result as Parquet into --out.
    Run(JobsRunArgs),
}

/// A batch job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JobName {
    /// Received, sent, balance and tx count per address (and asset).
    Balances,
    /// Co-spend clustering with the CoinJoin guard (iterated connected components).
    Cluster,
    /// Poison or haircut taint from an incident over UTXO and account chains, to the hop limit.
    Trace,
    /// Exposure of every address to the labeled sanctioned and mixer addresses (the data
    /// dir's labels), N hops in and out, UTXO and account chains.
    Exposure,
}

/// Where a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Engine {
    /// DataFusion in this process.
    Embedded,
    /// A Ballista cluster (--scheduler).
    Ballista,
}

impl Engine {
    /// The name a report gives it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Engine::Embedded => "embedded",
            Engine::Ballista => "ballista",
        }
    }
}

/// The exposure job's default bounds (`jobs run`; `bench jobs` uses them as they are).
pub(crate) const EXPOSURE_MAX_FRONTIER: u64 = 10_000;
pub(crate) const EXPOSURE_MAX_HISTORY: u64 = 10_000;

/// Where batch jobs run: in this process or on a Ballista cluster.
#[derive(Debug, Args)]
pub(crate) struct EngineArgs {
    /// Where the jobs run.
    #[arg(long, value_enum, default_value = "embedded")]
    pub(crate) engine: Engine,
    /// The Ballista scheduler (`df://host:port`), with --engine ballista.
    #[arg(long)]
    pub(crate) scheduler: Option<String>,
    /// With --engine ballista: partitions per stage, about the cluster's task slots (0:
    /// Ballista's default, 16).
    #[arg(long, default_value_t = 0)]
    pub(crate) partitions: usize,
    /// Fail a job not finished after this many seconds (a cluster that lost its executors, a
    /// query the engine never ends); nothing of it is written as complete.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct JobsRunArgs {
    /// The job.
    #[arg(value_enum)]
    pub(crate) job: JobName,
    /// The dataset: a directory (with its `_tracehound.json`), or `s3://BUCKET/PREFIX`
    /// (credentials and endpoint from the AWS_* environment; needs a build with feature
    /// `s3` or `ballista`).
    #[arg(long)]
    pub(crate) dataset: PathBuf,
    /// Where results go (one Parquet directory per result table): a directory, or
    /// `s3://BUCKET/PREFIX` (each result then marked complete by its `_SUCCESS`).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Where the job runs.
    #[command(flatten)]
    pub(crate) on: EngineArgs,
    /// trace: the incident, a file or the name of a saved one.
    #[arg(long)]
    pub(crate) incident: Option<String>,
    /// trace: poison or haircut.
    #[arg(long, default_value = "haircut")]
    pub(crate) policy: String,
    /// trace: hops followed after the theft (the theft is hop 1).
    #[arg(long, default_value_t = 64)]
    pub(crate) max_hops: u32,
    /// trace: dust threshold, `ASSET=BASE_UNITS` (`native` or a token contract; a bare
    /// number is the native coin's), repeatable: less taint is not followed.
    #[arg(long)]
    pub(crate) dust: Vec<String>,
    /// exposure: hops from each labeled origin.
    #[arg(long, default_value_t = 3)]
    pub(crate) hops: u32,
    /// exposure: nodes kept per hop and origin (the most exposed).
    #[arg(long, default_value_t = EXPOSURE_MAX_FRONTIER)]
    pub(crate) max_frontier: u64,
    /// exposure: addresses with more txs are not walked through.
    #[arg(long, default_value_t = EXPOSURE_MAX_HISTORY)]
    pub(crate) max_history: u64,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Several chains at once: a TOML file of `[[chain]]` entries (chain, rpc, ws or zmq,
    /// rpc_cookie or rpc_user and rpc_password, links, incidents, poll_ms, confirmations,
    /// alert_history, opening_balances).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["chain", "rpc", "ws", "zmq"])]
    pub(crate) config: Option<PathBuf>,
    /// The chain (a UTXO chain such as litecoin-regtest, or an EVM chain).
    #[arg(long, requires = "rpc")]
    pub(crate) chain: Option<Chain>,
    /// The node's JSON-RPC URL.
    #[arg(long, requires = "chain")]
    pub(crate) rpc: Option<String>,
    /// EVM node: its websocket (`ws://…`; anvil serves it on its HTTP port). Each new head it
    /// announces (`newHeads`) wakes the watch at once; polling goes on as the fallback.
    #[arg(long, value_name = "URL", requires = "rpc")]
    pub(crate) ws: Option<String>,
    /// UTXO node: the ZMQ endpoint it publishes blocks on (`tcp://host:port`, as given to
    /// Core's `-zmqpubhashblock` or `-zmqpubrawblock`). Each block it announces wakes the
    /// watch at once; polling goes on as the fallback.
    #[arg(long, value_name = "URL", requires = "rpc", conflicts_with = "ws")]
    pub(crate) zmq: Option<String>,
    /// UTXO node: its .cookie file.
    #[arg(long, conflicts_with_all = ["rpc_user", "rpc_password"])]
    pub(crate) rpc_cookie: Option<PathBuf>,
    /// UTXO node: RPC user.
    #[arg(long, requires = "rpc_password")]
    pub(crate) rpc_user: Option<String>,
    /// UTXO node: RPC password.
    #[arg(
        long,
        requires = "rpc_user",
        env = "TRACEHOUND_RPC_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) rpc_password: Option<String>,
    /// The link config the chain is ingested with (as `tracehound ingest --links`).
    #[arg(long, value_name = "FILE")]
    pub(crate) links: Option<PathBuf>,
    /// Only these saved incidents (repeatable; default: every saved incident traced once).
    #[arg(long, value_name = "NAME")]
    pub(crate) incident: Vec<String>,
    /// How often to ask the node for new blocks, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub(crate) poll_ms: u64,
    /// Confirmations an alert's block needs before the alert is final (carried in the alert):
    /// above 1, a `final` event follows each alert still in force once its block is this deep.
    #[arg(long, default_value_t = 1)]
    pub(crate) confirmations: u32,
    /// One cycle (catch up, alert, deliver what is due), then exit.
    #[arg(long)]
    pub(crate) once: bool,
    /// Raise alerts for an incident's whole trace the first time it is watched (default:
    /// only for blocks after the watch starts).
    #[arg(long)]
    pub(crate) alert_history: bool,
    /// An address whose exposure is watched (repeatable): each tainted arrival at it is an
    /// `exposure` alert (customers' deposit addresses, a client's wallets).
    #[arg(long, value_name = "ADDR")]
    pub(crate) watch_address: Vec<String>,
    /// Do not deliver webhooks from this process (alerts are still kept in the outbox).
    #[arg(long)]
    pub(crate) no_deliver: bool,
    /// EVM: do not read opening balances of new accounts.
    #[arg(long)]
    pub(crate) no_opening_balances: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Alerts in the order raised, with their delivery status per subscription.
    List {
        /// Only alerts after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// A dead delivery back to pending (after fixing the receiver).
    Redeliver {
        /// The subscription's id.
        #[arg(long)]
        subscription: String,
        /// The alert's sequence number (`tracehound alerts list`).
        #[arg(long)]
        seq: u64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SubscriptionCommand {
    /// Add a webhook; its signing secret is printed once.
    Add {
        /// Where to POST alerts (http or https).
        #[arg(long)]
        url: String,
        /// Only these kinds (repeatable): taint_moved, reached_service, exposure, sanctioned,
        /// pattern, retraction, final (default: all; a retraction or a final goes wherever
        /// the alert it follows up on went).
        #[arg(long)]
        kind: Vec<String>,
        /// Only alerts of these incidents (repeatable; default: all).
        #[arg(long)]
        incident: Vec<String>,
        /// The signing secret (default: 32 random bytes, printed once).
        #[arg(long, env = "TRACEHOUND_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// List subscriptions (never their secrets).
    List,
    /// Remove a subscription by id.
    Remove {
        /// The subscription's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The saved incident (its last `tracehound trace --incident NAME` is reported).
    #[arg(long, value_name = "NAME")]
    pub(crate) incident: String,
    /// Only this endpoint address (else every point of intervention).
    #[arg(long, value_name = "ADDR")]
    pub(crate) endpoint: Option<String>,
    /// html (self-contained, prints cleanly), json, or pdf (A4, standard fonts, no browser
    /// needed).
    #[arg(long, default_value = "html")]
    pub(crate) format: String,
    /// Write it here instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on. Anything but loopback exposes the API: reads then need
    /// a token too, unless --open-reads.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) bind: std::net::SocketAddr,
    /// Reads need no token (the default on loopback; writes always need one).
    #[arg(long, conflicts_with = "closed_reads")]
    pub(crate) open_reads: bool,
    /// Reads need a token too, even on loopback.
    #[arg(long)]
    pub(crate) closed_reads: bool,
    /// Allow browser calls from this origin (CORS; repeatable). Off by default.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) cors_origin: Vec<String>,
    /// The link config traces follow (`links.toml`, merged over the built-in one).
    #[arg(long, value_name = "FILE")]
    pub(crate) links: Option<PathBuf>,
    /// Cap: largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub(crate) max_body: usize,
    /// Cap: most rows of a page.
    #[arg(long, default_value_t = 1000)]
    pub(crate) max_page: usize,
    /// Cap: most hops of a trace.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_hops: u32,
    /// Cap: most addresses of a bulk screening.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_batch: usize,
    /// Cap: seconds a request may take.
    #[arg(long, default_value_t = 60)]
    pub(crate) max_seconds: u64,
    /// Also follow chains live, as `tracehound watch --config FILE` does, in this process: its
    /// alerts, webhook subscriptions and ingest progress are then served too.
    #[arg(long, value_name = "FILE")]
    pub(crate) watch: Option<PathBuf>,
}

impl ServeArgs {
    /// Serving on `bind` with the default caps and link config `links`.
    pub(crate) fn local(bind: std::net::SocketAddr, links: Option<PathBuf>) -> ServeArgs {
        ServeArgs {
            bind,
            open_reads: false,
            closed_reads: false,
            cors_origin: Vec::new(),
            links,
            max_body: 1 << 20,
            max_page: 1000,
            max_hops: 64,
            max_batch: 10_000,
            max_seconds: 60,
            watch: None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a token; it is printed once and only its digest is kept.
    Create {
        /// Who or what it is for.
        #[arg(long)]
        name: String,
        /// read, analyst (also writes incidents, traces, labels) or admin (also tokens).
        #[arg(long, default_value = "read")]
        role: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id (`tracehound token list`).
        id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PatternsArgs {
    /// Trace this incident (a file, or a saved incident's name) and look along its flow.
    #[arg(long, value_name = "FILE|NAME", conflicts_with = "address")]
    pub(crate) incident: Option<String>,
    /// Look around this address instead (its txs, `--hops` deep).
    #[arg(long, required_unless_present = "incident")]
    pub(crate) address: Option<String>,
    /// The address's chain (default: the first stored chain the address parses on).
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Taint policy of the incident's trace.
    #[arg(long, default_value = "haircut")]
    pub(crate) policy: String,
    /// Hops the incident's trace follows.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_hops: u32,
    /// Hops out from `--address`.
    #[arg(long, default_value_t = 2)]
    pub(crate) hops: u32,
    /// Labels CSV used on top of the label store (mixer and service categories).
    #[arg(long, value_name = "CSV")]
    pub(crate) labels: Option<PathBuf>,
    /// Structuring threshold `CHAIN:ASSET=BASE_UNITS` or `ASSET=BASE_UNITS` (repeatable; adds to
    /// or replaces the defaults: 10 coins on Litecoin/Bitcoin, 10 ether on evm-31337).
    #[arg(long, value_name = "ASSET=UNITS")]
    pub(crate) threshold: Vec<String>,
    /// Show detections scoring at least this (0–100).
    #[arg(long, default_value_t = 0)]
    pub(crate) min_score: u8,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct ScreenArgs {
    #[command(subcommand)]
    pub(crate) command: Option<ScreenCommand>,
    /// Addresses to screen.
    pub(crate) addresses: Vec<String>,
    /// Their chain (default: the index's only chain).
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Screen the addresses of this file too: one a line, `ADDRESS` or `CHAIN,ADDRESS` (a
    /// header line and `#` comments are skipped); prints one line per address and the rate.
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScreenCommand {
    /// Build the exposure index (`exposure.redb` in the data dir): trace every saved incident,
    /// walk N hops in and out from every address labeled sanctioned or mixer.
    Index(ScreenIndexArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ScreenIndexArgs {
    /// Hops walked from labeled addresses, each way.
    #[arg(long, default_value_t = 3)]
    pub(crate) hops: u32,
    /// Policy of the incidents' traces.
    #[arg(long, default_value = "haircut")]
    pub(crate) policy: String,
    /// Incidents to trace (a file, or a saved incident's name); default: every saved incident.
    #[arg(long, value_name = "FILE|NAME")]
    pub(crate) incident: Vec<String>,
    /// Addresses with more txs than this are not walked through.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_history: usize,
    /// Addresses kept per hop of a walk (the most exposed).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_frontier: usize,
}

#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    /// The chain to cluster (default: every chain in the store).
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Also merge change outputs into their payer (fresh address, inputs' script type, next to
    /// a round payment); off by default: a weaker hint than co-spend.
    #[arg(long)]
    pub(crate) change: bool,
    /// EVM deposit addresses: distinct senders needed.
    #[arg(long, default_value_t = 1)]
    pub(crate) min_senders: usize,
    /// EVM deposit addresses: blocks from a receipt to the forward that counts.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) window: u32,
    /// Score each chain against a simulator ground truth (a dir holding truth.json, as
    /// `sim run --out` writes; repeat for the EVM side's `DIR/evm`): pairwise precision and
    /// recall of "same owner" over the addresses both know.
    #[arg(long)]
    pub(crate) truth: Vec<std::path::PathBuf>,
    /// EVM deposit addresses: percent of what was received forwarded to the exchange.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub(crate) forwarded_pct: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EntityCommand {
    /// An entity: its members, their labels (strongest first) and, for an address, the txs
    /// that joined it to the entity.
    Show(EntityShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EntityShowArgs {
    /// An entity id (its smallest address id; needs --chain when several chains are
    /// clustered) or an address.
    pub(crate) which: String,
    /// The chain.
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Members and labels shown.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LabelsCommand {
    /// Import label files into the data dir's label store (labels.redb). A file's tags are
    /// stored as source `<format>:<file name>`, replacing what that source held: importing
    /// a file again changes nothing.
    Import(LabelsImportArgs),
    /// List labels.
    List(LabelsListArgs),
    /// Labels whose address, name, source terms, actor, reference or note contain TEXT.
    Search {
        /// Text to look for (case-insensitive).
        text: String,
    },
    /// Every label of an address, strongest first.
    Show(LabelsShowArgs),
    /// Add (or replace) your own label of an address (source `analyst:<name>`).
    Add(LabelsAddArgs),
    /// Remove your label of an address, or every label of one source.
    Remove(LabelsRemoveArgs),
    /// Imported sources and analysts' labels, with counts.
    Sources,
    /// The category vocabulary: each category, who can freeze there, what a trace does.
    Categories,
}

#[derive(Debug, Args)]
pub(crate) struct LabelsImportArgs {
    /// The files (several of one format at once, e.g. `packs/*.yaml`).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// tagpack (GraphSense YAML), ofac (sanctioned_addresses_<ASSET>.txt), etherscan
    /// (`{address: {name, labels}}` JSON) or csv (chain,address,label,category,source,confidence).
    #[arg(long)]
    pub(crate) format: String,
    /// The chain of every address (instead of the file name's or the tags' currency).
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Skip bad records (counted and listed) instead of stopping at the first.
    #[arg(long)]
    pub(crate) skip_invalid: bool,
    /// Store under this source name instead of `<format>:<full path>` (one file only).
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// GraphSense actor pack: tagpack `actor` ids must resolve in it.
    #[arg(long, value_name = "YAML")]
    pub(crate) actors: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct LabelsListArgs {
    /// Only this category (a name from `labels categories`, or a source term).
    #[arg(long)]
    pub(crate) category: Option<String>,
    /// Only this chain.
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Only this source (e.g. `ofac:/data/sanctioned_addresses_ETH.txt`; `analyst:` for all analysts).
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 0)]
    pub(crate) limit: usize,
}

#[derive(Debug, Args)]
pub(crate) struct LabelsShowArgs {
    /// The address.
    pub(crate) address: String,
    /// Its chain (default: every chain it is labeled on).
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
}

#[derive(Debug, Args)]
pub(crate) struct LabelsAddArgs {
    /// The address.
    pub(crate) address: String,
    /// Its chain.
    #[arg(long)]
    pub(crate) chain: Chain,
    /// The label (who it is).
    #[arg(long)]
    pub(crate) label: String,
    /// The category (a name from `labels categories`, or a source term).
    #[arg(long)]
    pub(crate) category: String,
    /// A note (why, case reference).
    #[arg(long)]
    pub(crate) note: Option<String>,
    /// Your name [default: $USER].
    #[arg(long)]
    pub(crate) analyst: Option<String>,
    /// Confidence from 0 to 100.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) confidence: u8,
}

#[derive(Debug, Args)]
pub(crate) struct LabelsRemoveArgs {
    /// The address (with --chain), or none with --source.
    #[arg(required_unless_present = "source", requires = "chain")]
    pub(crate) address: Option<String>,
    /// Its chain.
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Whose label [default: $USER].
    #[arg(long)]
    pub(crate) analyst: Option<String>,
    /// Remove every label of this source instead (an import, or `analyst:<name>`).
    #[arg(long, conflicts_with_all = ["address", "analyst"])]
    pub(crate) source: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// The incident: a TOML or JSON file, or the name of a saved incident.
    #[arg(long, value_name = "FILE")]
    pub(crate) incident: Option<String>,
    /// Shortcut without a file: the chain of --source.
    #[arg(long, requires = "source")]
    pub(crate) chain: Option<Chain>,
    /// Shortcut: an address all value leaving which (from --since on) is stolen.
    #[arg(long, value_name = "ADDR")]
    pub(crate) source: Vec<String>,
    /// Shortcut: only this asset (`native` or a token contract).
    #[arg(long)]
    pub(crate) asset: Option<String>,
    /// Shortcut: from this time (unix seconds, YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Taint policy: haircut, poison, fifo, lifo or tiho.
    #[arg(long, default_value = "haircut")]
    pub(crate) policy: String,
    /// Hops to follow after the theft.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_hops: u32,
    /// Ignore everything after this time.
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Labels CSV (chain,address,label,category,source,confidence): the trace stops at
    /// services. Used on top of the data dir's label store (`tracehound labels`), whose
    /// strongest label per address is always used; the CSV's win where both label one.
    #[arg(long, value_name = "CSV")]
    pub(crate) labels: Option<PathBuf>,
    /// Price table CSV (`date,chain,asset,decimals,price`: the price of one whole unit on a
    /// UTC day, in one currency): each endpoint also shows its value on the day it arrived,
    /// next to (never instead of) its exact amount.
    #[arg(long, value_name = "CSV")]
    pub(crate) prices: Option<PathBuf>,
    /// Dust threshold, ASSET=BASE_UNITS (repeatable): less taint is not followed.
    #[arg(long, value_name = "ASSET=UNITS")]
    pub(crate) dust: Vec<String>,
    /// Print endpoints as CSV.
    #[arg(long, conflicts_with = "dot")]
    pub(crate) csv: bool,
    /// Print the trace graph as Graphviz DOT.
    #[arg(long)]
    pub(crate) dot: bool,
    /// Cap: tainted places tracked (outputs, addresses per asset).
    #[arg(long, default_value_t = 2_000_000)]
    pub(crate) max_nodes: usize,
    /// Cap: hops kept in the trace graph.
    #[arg(long, default_value_t = 4_000_000)]
    pub(crate) max_edges: usize,
    /// Cap: transfers of one address read into memory.
    #[arg(long, default_value_t = 2_000_000)]
    pub(crate) max_history: usize,
    /// Do not follow links (swaps, wraps, bridges, chain swaps, mixers): taint stays with the
    /// pool or contract it went into.
    #[arg(long)]
    pub(crate) no_links: bool,
    /// Links matched with a lower confidence (0–100) are not followed: their value is
    /// reported dark (mixer) or unresolved (bridge).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) min_link_confidence: u8,
    /// The link config the chains were ingested with (`links.toml`, merged over the built-in
    /// one): its bridges' windows and fees, and whether they may be matched heuristically.
    #[arg(long, value_name = "FILE")]
    pub(crate) links: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImportCommand {
    /// Account-chain transfers from a CSV file with the header
    /// `chain,tx_hash,block,timestamp,log_index,from,to,asset,amount` (amount an exact integer
    /// in base units, asset `native` or a token contract, rows in block order), to trace them
    /// like ingested ones. Every field is checked before anything is stored.
    Transfers(ImportTransfersArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ImportTransfersArgs {
    /// The CSV file.
    pub(crate) file: PathBuf,
    /// Link facts of the same blocks, one JSON object a line: `{"height": H, "fact": F}` with
    /// F a link fact as `tracehound --json tx` prints them (from an external decoder, or
    /// `sim run --to-files --evm-swap-percent`).
    #[arg(long, value_name = "JSONL")]
    pub(crate) links: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IncidentCommand {
    /// Save an incident (stolen txs and/or source addresses on one chain).
    Create(IncidentCreateArgs),
    /// List saved incidents.
    List,
    /// Show an incident (a saved name or a file).
    Show {
        /// Name or file.
        which: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct IncidentCreateArgs {
    /// Its name (also the file name).
    pub(crate) name: String,
    /// The chain.
    #[arg(long)]
    pub(crate) chain: String,
    /// A stolen tx (repeatable): all its outputs / non-fee transfers.
    #[arg(long)]
    pub(crate) tx: Vec<String>,
    /// A source address (repeatable).
    #[arg(long)]
    pub(crate) source: Vec<String>,
    /// Sources: from this time.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// Only these assets (repeatable).
    #[arg(long)]
    pub(crate) asset: Vec<String>,
    /// Free text.
    #[arg(long)]
    pub(crate) notes: Option<String>,
    /// Write here instead of the data dir's incidents/.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// Play a seeded heist scenario on running nodes and write its ground truth
    /// (`truth.json`, `labels.csv`) and its services' link config (`links.toml`) to DIR; then
    /// `tracehound ingest evm` (and `ingest btc`) with `--links DIR/links.toml` read the
    /// chains. With --ltc-rpc the scenario has its UTXO side on a litecoind -regtest;
    /// without, it is the EVM half alone.
    Run(Box<SimRunArgs>),
    /// Score a result against a scenario's ground truth: recall and precision by count and by
    /// value, overall and per resting-place kind. Today the result is a trace (`tracehound
    /// trace --json` output); a place matches on (chain, address, asset).
    Score(SimScoreArgs),
    /// Record what `ingest evm` and `ingest btc` ask of running nodes after `sim run
    /// --on-nodes`, with the scenario's truth, labels and links: the files `tracehound demo`
    /// replays (`scripts/record-demo` runs the nodes and this).
    #[command(hide = true)]
    Record(SimRecordArgs),
    /// Serve a recording made by `sim record` on loopback until killed (for debugging).
    #[command(hide = true)]
    Replay {
        /// `evm-rpc.json` or `ltc-rpc.json`.
        recording: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SimRecordArgs {
    /// The anvil's JSON-RPC URL.
    #[arg(long)]
    pub(crate) rpc: String,
    /// The litecoind's JSON-RPC URL.
    #[arg(long)]
    pub(crate) ltc_rpc: String,
    /// The litecoind's cookie file.
    #[arg(long)]
    pub(crate) ltc_rpc_cookie: PathBuf,
    /// The scenario's `sim run --out` directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) truth: PathBuf,
    /// Where to write the recording.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SimScoreArgs {
    /// The ground truth: a directory holding `truth.json` (as `sim run --out` writes), or the
    /// file itself.
    #[arg(long, value_name = "DIR")]
    pub(crate) truth: PathBuf,
    /// The result to score: `tracehound trace --json` output.
    #[arg(long, value_name = "FILE")]
    pub(crate) result: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SimRunArgs {
    /// Play on real nodes (the default mode).
    #[arg(long, conflicts_with = "to_files")]
    pub(crate) on_nodes: bool,
    /// The anvil node's JSON-RPC URL (a fresh node: the scenario's addresses must be unused).
    #[arg(
        long,
        required_unless_present = "to_files",
        conflicts_with = "to_files"
    )]
    pub(crate) rpc: Option<String>,
    /// Instead of nodes: write a UTXO heist at benchmark scale as Core-format blk files of
    /// litecoin-regtest into DIR/blocks (then `tracehound ingest btc --network
    /// litecoin-regtest --blocks-dir DIR/blocks`).
    #[arg(long, value_name = "DIR", conflicts_with = "ltc_rpc")]
    pub(crate) to_files: Option<PathBuf>,
    /// With --to-files: blocks after genesis.
    #[arg(long, requires = "to_files")]
    pub(crate) blocks: Option<u32>,
    /// With --to-files: average background txs per block.
    #[arg(long, requires = "to_files")]
    pub(crate) txs_per_block: Option<u32>,
    /// With --to-files: users.
    #[arg(long, requires = "to_files")]
    pub(crate) users: Option<u32>,
    /// With --to-files: blocks of the EVM side, written as DIR/evm/transfers.csv (then
    /// `tracehound import transfers DIR/evm/transfers.csv`) with its truth in OUT/evm; 0 for
    /// none [default: 2000].
    #[arg(long, requires = "to_files")]
    pub(crate) evm_blocks: Option<u32>,
    /// With --to-files: background txs per EVM block [default: 200].
    #[arg(long, requires = "to_files")]
    pub(crate) evm_txs_per_block: Option<u32>,
    /// With --to-files: per cent of EVM background txs that are swaps through a DEX pool,
    /// each with its link fact in DIR/evm/links.jsonl (`import transfers --links`) [default: 0].
    #[arg(long, requires = "to_files")]
    pub(crate) evm_swap_percent: Option<u32>,
    /// A fresh litecoind -regtest's JSON-RPC URL (height 0), for the UTXO side.
    #[arg(long)]
    pub(crate) ltc_rpc: Option<String>,
    /// The litecoind's .cookie file.
    #[arg(long, requires = "ltc_rpc", conflicts_with_all = ["ltc_rpc_user", "ltc_rpc_password"])]
    pub(crate) ltc_rpc_cookie: Option<PathBuf>,
    /// The litecoind's RPC user.
    #[arg(long, requires_all = ["ltc_rpc", "ltc_rpc_password"])]
    pub(crate) ltc_rpc_user: Option<String>,
    /// The litecoind's RPC password.
    #[arg(
        long,
        requires = "ltc_rpc_user",
        env = "TRACEHOUND_LTC_RPC_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) ltc_rpc_password: Option<String>,
    /// Where the ground truth goes.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// A JSON config (every field has a default; unknown fields are refused).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Seed, overriding the config's.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IngestCommand {
    /// A UTXO chain, from Core's blk*.dat files or its JSON-RPC.
    Btc(IngestBtcArgs),
    /// An EVM chain from any JSON-RPC node: native, internal, fee, token and NFT transfers.
    Evm(IngestEvmArgs),
}

#[derive(Debug, Args)]
pub(crate) struct IngestEvmArgs {
    /// The chain: a known name (ethereum, bsc, arbitrum, optimism, polygon, base) or a chain
    /// id (e.g. 31337 for a local devnet). A mismatch with the node's eth_chainId is an error.
    #[arg(long)]
    pub(crate) chain: Chain,
    /// The node's JSON-RPC URL.
    #[arg(long)]
    pub(crate) rpc: String,
    /// First height, for a chain not yet in the store (default: genesis).
    #[arg(long)]
    pub(crate) from: Option<u32>,
    /// Stop after this height (default: the node's tip).
    #[arg(long)]
    pub(crate) to: Option<u32>,
    /// Commit after at most this many blocks (a crash loses at most one batch); fewer when
    /// blocks are full (see --batch-txs).
    #[arg(long, default_value_t = 1000)]
    pub(crate) batch_blocks: u32,
    /// Commit after about this many txs: each batch's block count follows the txs per block
    /// of the batch before, within --batch-blocks.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) batch_txs: u32,
    /// A WETH-style wrapped-native contract besides the chain's well-known one, whose
    /// Deposit/Withdrawal events count as wrapping and unwrapping (repeatable).
    #[arg(long = "wrapped-native", value_name = "CONTRACT")]
    pub(crate) wrapped_native: Vec<String>,
    /// Requests in flight at once (lower it for rate-limited public endpoints).
    #[arg(long, default_value_t = 16)]
    pub(crate) rpc_concurrency: usize,
    /// Do not read opening balances. By default, when an account (or an account's holding of
    /// a token) first appears in the store at block H, its balance at block H-1 is read from
    /// the node (eth_getBalance, balanceOf; genesis state at H = 0) and stored as a transfer
    /// from mint:opening, so stored balances equal the node's from any --from. Without them,
    /// balances are net flows since the first ingested block.
    #[arg(long)]
    pub(crate) no_opening_balances: bool,
    /// A link config (`links.toml`: bridges, chain-swap vaults, mixers, swap events of other
    /// ABIs), merged over the built-in one (Uniswap-style pools, WETH, Tornado Cash on
    /// Ethereum), to decode link facts (swaps, wraps, bridge and vault entries and exits,
    /// mixer deposits and withdrawals) while ingesting.
    #[arg(long, value_name = "FILE")]
    pub(crate) links: Option<PathBuf>,
}

/// UTXO networks accepted by `--network`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Network {
    Bitcoin,
    BitcoinTestnet,
    BitcoinTestnet4,
    BitcoinSignet,
    BitcoinRegtest,
    Litecoin,
    LitecoinTestnet,
    LitecoinRegtest,
}

impl Network {
    pub(crate) fn chain(self) -> Chain {
        match self {
            Network::Bitcoin => Chain::BitcoinMainnet,
            Network::BitcoinTestnet => Chain::BitcoinTestnet,
            Network::BitcoinTestnet4 => Chain::BitcoinTestnet4,
            Network::BitcoinSignet => Chain::BitcoinSignet,
            Network::BitcoinRegtest => Chain::BitcoinRegtest,
            Network::Litecoin => Chain::LitecoinMainnet,
            Network::LitecoinTestnet => Chain::LitecoinTestnet,
            Network::LitecoinRegtest => Chain::LitecoinRegtest,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct IngestBtcArgs {
    /// Which chain.
    #[arg(long, value_enum)]
    pub(crate) network: Network,
    /// Core's blocks directory (holding blk?????.dat and, from Core 28, xor.dat).
    #[arg(long, conflicts_with = "rpc", required_unless_present = "rpc")]
    pub(crate) blocks_dir: Option<PathBuf>,
    /// The node's JSON-RPC URL, e.g. http://127.0.0.1:8332.
    #[arg(long)]
    pub(crate) rpc: Option<String>,
    /// The node's .cookie file.
    #[arg(long, requires = "rpc", conflicts_with_all = ["rpc_user", "rpc_password"])]
    pub(crate) rpc_cookie: Option<PathBuf>,
    /// RPC user.
    #[arg(long, requires_all = ["rpc", "rpc_password"])]
    pub(crate) rpc_user: Option<String>,
    /// RPC password.
    #[arg(
        long,
        requires = "rpc_user",
        env = "TRACEHOUND_RPC_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) rpc_password: Option<String>,
    /// Stop after this height.
    #[arg(long)]
    pub(crate) to_height: Option<u32>,
    /// Commit after about this many transactions (a crash loses at most one batch; larger
    /// batches write less: the store is copy-on-write).
    #[arg(long, default_value_t = 250_000)]
    pub(crate) batch_txs: usize,
    /// A link config (`links.toml`: bridges, chain-swap vaults, mixers, swap events of other
    /// ABIs), merged over the built-in one (Uniswap-style pools, WETH, Tornado Cash on
    /// Ethereum), to decode link facts (swaps, wraps, bridge and vault entries and exits,
    /// mixer deposits and withdrawals) while ingesting.
    #[arg(long, value_name = "FILE")]
    pub(crate) links: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TxArgs {
    /// The transaction id (hex, as explorers show it).
    pub(crate) txid: String,
    /// Look only on this chain.
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
}

#[derive(Debug, Args)]
pub(crate) struct AddressArgs {
    /// The address.
    pub(crate) address: String,
    /// Its chain (default: every stored chain where the address is valid).
    #[arg(long)]
    pub(crate) chain: Option<Chain>,
    /// Skip this many transactions of its history.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: usize,
    /// Show at most this many transactions.
    #[arg(long, default_value_t = 25)]
    pub(crate) limit: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Every table as a versioned Parquet dataset in DIR, partitioned by chain and height
    /// range (layout and columns: docs/parquet-schema.md). DIR appears only once complete.
    Parquet(ExportParquetArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ExportParquetArgs {
    /// Output directory: written next to it as DIR.partial-<pid>, renamed to DIR at the end.
    pub(crate) dir: PathBuf,
    /// Heights per file of the height-keyed tables (blocks, txs, inputs, outputs, transfers,
    /// address_txs, links).
    #[arg(long, default_value_t = tracehound_store::dataset::DEFAULT_PARTITION_BLOCKS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) partition_blocks: u32,
    /// Replace an existing export in DIR (only once the new one is complete; a directory that
    /// is not an export is never replaced).
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Blocks of the generated chain (at least 265: the heist starts once the world is funded).
    #[arg(long, default_value_t = 600)]
    pub(crate) blocks: u32,
    /// Average background transactions per block.
    #[arg(long, default_value_t = 150)]
    pub(crate) txs_per_block: u32,
    /// Users of the simulated world.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) users: u32,
    /// Seed of the scenario: the same seed makes the same chain and heist.
    #[arg(long, default_value_t = 2025)]
    pub(crate) seed: u64,
    /// Taint policy of the trace: haircut, poison, fifo, lifo or tiho.
    #[arg(long, default_value = "haircut")]
    pub(crate) policy: String,
    /// Endpoints shown with their proof path.
    #[arg(long, default_value_t = 3)]
    pub(crate) top: usize,
    /// Keep the scenario here: `blocks/`, `truth.json`, `labels.csv`, `incident.json` and
    /// `trace.json` (then `tracehound sim score --truth DIR --result DIR/trace.json`).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Then serve the cross-chain heist's data dir (API and web UI) until Ctrl-C, with the
    /// traced incident saved as `cross-chain-heist`.
    #[arg(long)]
    pub(crate) serve: bool,
    /// Where --serve listens (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub(crate) bind: std::net::SocketAddr,
    /// With --serve: replay the heist live, block by block after the drain, while the server
    /// watches the replayed nodes and raises alerts (the alerts page shows them as they come).
    #[arg(long, requires = "serve")]
    pub(crate) live: bool,
    /// With --live: milliseconds between two blocks.
    #[arg(long, default_value_t = 1000, requires = "live")]
    pub(crate) live_ms: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Ingest a blk directory into a fresh temporary store and report throughput and peak RSS.
    Ingest(BenchIngestArgs),
    /// Read a blk directory's best chain with every input resolved in memory (no store):
    /// the job of a blk parser with input resolution.
    Parse(BenchParseArgs),
    /// Generate a Core-format blk directory of realistic blocks for benchmarks.
    Gen(BenchGenArgs),
    /// Ingest an EVM chain from a node into a fresh temporary store and report throughput.
    IngestEvm(BenchIngestEvmArgs),
    /// Trace an incident of N source addresses over a UTXO chain of the store under each
    /// policy, and report time, peak RSS and endpoints.
    Trace(BenchTraceArgs),
    /// Union-find throughput of co-spend clustering on synthetic txs (inputs per second), and
    /// the whole `cluster` of every UTXO chain in the store, if it holds any.
    Cluster(BenchClusterArgs),
    /// Screening latency (p50/p99 per address) and bulk throughput over the store's exposure
    /// index: indexed addresses and as many random addresses of the store's UTXO chains.
    Screen(BenchScreenArgs),
    /// Each batch job on a Parquet dataset, embedded: time and rows read per second.
    Jobs(BenchJobsArgs),
    /// The watch's live trace against a full trace after every block: the demo's recorded
    /// cross-chain heist replayed block by block from the drain, each new block ingested, the
    /// incident's live trace extended and a full trace run; their results must be equal.
    /// Reports both times and why the live trace started over when it did.
    Live(BenchLiveArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BenchLiveArgs {
    /// Work directory (the demo's stores go under it; a temporary one if absent).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Policies traced, each its own live trace (default: haircut).
    #[arg(long, value_name = "POLICY")]
    pub(crate) policy: Vec<String>,
    /// Compare every N blocks (the live trace is still extended at each).
    #[arg(long, default_value_t = 1)]
    pub(crate) every: usize,
    /// The demo's blocks one chain after the other (all of the EVM chain's, then the UTXO
    /// chain's) instead of in time order: chains that grow out of step, as a watch of chains
    /// polled apart sees them.
    #[arg(long, conflicts_with = "blocks_dir")]
    pub(crate) by_chain: bool,
    /// Instead of the demo: a blk directory, ingested into the data dir up to --from, then
    /// block by block to its tip (a UTXO chain only).
    #[arg(long, requires_all = ["network", "tx", "from"])]
    pub(crate) blocks_dir: Option<PathBuf>,
    /// The blk directory's network.
    #[arg(long, value_enum)]
    pub(crate) network: Option<Network>,
    /// With --blocks-dir: a stolen tx (all its outputs), repeatable.
    #[arg(long)]
    pub(crate) tx: Vec<String>,
    /// With --blocks-dir: the height the live trace starts at.
    #[arg(long)]
    pub(crate) from: Option<u32>,
    /// With --blocks-dir: blocks replayed after --from (all if absent).
    #[arg(long)]
    pub(crate) blocks: Option<u32>,
    /// With --blocks-dir: the hop limit.
    #[arg(long, default_value_t = 10)]
    pub(crate) max_hops: u32,
}

#[derive(Debug, Args)]
pub(crate) struct BenchJobsArgs {
    /// The dataset directory.
    #[arg(long)]
    pub(crate) dataset: PathBuf,
    /// Where results go (a temporary directory if absent).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// The trace job's incident (a file or a saved name); without it, trace is not run.
    #[arg(long)]
    pub(crate) incident: Option<String>,
    /// The trace job's hop limit.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_hops: u32,
    /// The exposure job's hops from each labeled origin (run when the data dir has sanctioned
    /// or mixer labels).
    #[arg(long, default_value_t = 3)]
    pub(crate) hops: u32,
    /// Where the jobs run.
    #[command(flatten)]
    pub(crate) on: EngineArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BenchScreenArgs {
    /// Addresses to screen (half from the index, half random from the store).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) samples: usize,
    /// Threads of the bulk run.
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Seed of the random addresses.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

#[derive(Debug, Args)]
pub(crate) struct BenchClusterArgs {
    /// Synthetic inputs to join.
    #[arg(long, default_value_t = 50_000_000)]
    pub(crate) inputs: u64,
    /// Synthetic addresses.
    #[arg(long, default_value_t = 20_000_000)]
    pub(crate) addresses: u32,
    /// Seed of the synthetic txs.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

#[derive(Debug, Args)]
pub(crate) struct BenchTraceArgs {
    /// The chain to trace (a UTXO chain in the store).
    #[arg(long, default_value = "bitcoin")]
    pub(crate) chain: Chain,
    /// Source addresses of the incident: the first N distinct payees (with spent outputs) of
    /// the block at --height; all they send from that block's time on is stolen.
    #[arg(long, default_value_t = 100)]
    pub(crate) sources: usize,
    /// The incident's block (default: the middle of the stored chain).
    #[arg(long)]
    pub(crate) height: Option<u32>,
    /// Hops to follow.
    #[arg(long, default_value_t = 10)]
    pub(crate) max_hops: u32,
    /// Policies to run (default: all five).
    #[arg(long)]
    pub(crate) policy: Vec<String>,
    /// Trace this incident (TOML or JSON) instead of one made from --height and --sources.
    #[arg(long, value_name = "FILE")]
    pub(crate) incident: Option<PathBuf>,
    /// Labels CSV on top of the store's labels: the trace stops at services.
    #[arg(long, value_name = "CSV")]
    pub(crate) labels: Option<PathBuf>,
    /// Dust threshold, ASSET=BASE_UNITS (repeatable).
    #[arg(long, value_name = "ASSET=UNITS")]
    pub(crate) dust: Vec<String>,
    /// Also run every laundering-pattern detector on each trace's flow, timed apart.
    #[arg(long)]
    pub(crate) patterns: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BenchIngestEvmArgs {
    /// The chain (name or id).
    #[arg(long)]
    pub(crate) chain: Chain,
    /// The node's JSON-RPC URL.
    #[arg(long)]
    pub(crate) rpc: String,
    /// Stop after this height (default: the node's tip).
    #[arg(long)]
    pub(crate) to: Option<u32>,
    /// Commit after at most this many blocks.
    #[arg(long, default_value_t = 1000)]
    pub(crate) batch_blocks: u32,
    /// Commit after about this many txs (see `ingest evm --help`).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) batch_txs: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub(crate) rpc_concurrency: usize,
    /// Do not read opening balances (see `ingest evm --help`).
    #[arg(long)]
    pub(crate) no_opening_balances: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BenchIngestArgs {
    /// Which chain the files are of.
    #[arg(long, value_enum)]
    pub(crate) network: Network,
    /// The blk directory.
    #[arg(long)]
    pub(crate) blocks_dir: PathBuf,
    /// Commit after about this many transactions.
    #[arg(long, default_value_t = 250_000)]
    pub(crate) batch_txs: usize,
}

#[derive(Debug, Args)]
pub(crate) struct BenchParseArgs {
    /// Which chain the files are of.
    #[arg(long, value_enum)]
    pub(crate) network: Network,
    /// The blk directory.
    #[arg(long)]
    pub(crate) blocks_dir: PathBuf,
    /// Decoding threads (default: available cores).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchGenArgs {
    /// Output directory.
    #[arg(long)]
    pub(crate) dir: PathBuf,
    /// Which chain.
    #[arg(long, value_enum, default_value = "bitcoin")]
    pub(crate) network: Network,
    /// Blocks.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) blocks: u32,
    /// Average transactions per block.
    #[arg(long, default_value_t = 250)]
    pub(crate) txs_per_block: u32,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Obfuscate the files with an xor.dat key, as Core 28+ does.
    #[arg(long)]
    pub(crate) xor: bool,
}
