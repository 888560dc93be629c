//! Where the company's systems are: ERPNext (the Logistics agent runs only
//! with one), a Google Sheet of shelf counts, the carrier's tracking API
//! (the shipment follower runs only with one), and the standing orders.
//!
//! `agentos demo` needs none of this: it starts local simulators of these
//! systems and points the same clients at them ([`Simulated`]).

use std::sync::Arc;
use std::time::Duration;

use agents::adapters::carrier::{Carrier, CarrierConfig, EASYPOST_URL};
use agents::adapters::erpnext::{ErpNext, ErpNextConfig};
use agents::adapters::sheets::{A1Range, Sheets, SheetsConfig};
use agents::adapters::HealthBoard;
use agents::logistics::erp::{CountSheet, ErpNextStock};
use agents::logistics::Erp;
use anyhow::Context as _;
use api::schedule::StandingOrder;
use chrono::NaiveTime;
use domain::Currency;
use simulators::carrier::CarrierSim;
use simulators::erpnext::ErpNextSim;
use simulators::sheets::SheetsSim;
use simulators::SimServer;

/// The company systems' options of `serve`.
#[derive(clap::Args, Debug)]
pub struct AdapterArgs {
    /// ERPNext's base URL, e.g. https://erp.example.com: the Logistics agent
    /// reads stock there and places purchase orders. Without it, no
    /// Logistics agent runs.
    #[arg(long, env = "AGENTOS_ERPNEXT_URL")]
    erpnext_url: Option<String>,
    /// The ERPNext API key (of the user the agent acts as).
    #[arg(long, env = "AGENTOS_ERPNEXT_API_KEY", hide_env_values = true)]
    erpnext_api_key: Option<String>,
    /// The ERPNext API secret (prefer the environment variable).
    #[arg(long, env = "AGENTOS_ERPNEXT_API_SECRET", hide_env_values = true)]
    erpnext_api_secret: Option<String>,
    /// The company's currency, in which ERPNext's rates are read.
    #[arg(long, env = "AGENTOS_CURRENCY", default_value = "EUR")]
    currency: Currency,
    /// The Google Sheets API.
    #[arg(
        long,
        env = "AGENTOS_SHEETS_URL",
        default_value = "https://sheets.googleapis.com"
    )]
    sheets_url: String,
    /// A bearer token for the Google Sheets API (prefer the environment variable).
    #[arg(long, env = "AGENTOS_SHEETS_TOKEN", hide_env_values = true)]
    sheets_token: Option<String>,
    /// The spreadsheet of shelf counts (`SKU | Warehouse | Counted | Counted
    /// at`), whose counts replace ERPNext's figures on hand.
    #[arg(long, env = "AGENTOS_STOCK_COUNTS_SPREADSHEET")]
    stock_counts_spreadsheet: Option<String>,
    /// The range of the shelf counts in that spreadsheet.
    #[arg(
        long,
        env = "AGENTOS_STOCK_COUNTS_RANGE",
        default_value = "'Stock Counts'!A1:D"
    )]
    stock_counts_range: A1Range,
    /// The carrier's tracking API (EasyPost's, or one that speaks it): the
    /// shipment follower tracks inbound parcels there. Needs an API key.
    #[arg(long, env = "AGENTOS_CARRIER_URL", default_value = EASYPOST_URL)]
    carrier_url: String,
    /// The carrier API key (prefer the environment variable); without it
    /// no shipment follower runs.
    #[arg(long, env = "AGENTOS_CARRIER_API_KEY", hide_env_values = true)]
    carrier_api_key: Option<String>,
    /// The secret the carrier signs its webhooks with; without it
    /// `POST /api/v1/webhooks/carrier` answers 404.
    #[arg(long, env = "AGENTOS_CARRIER_WEBHOOK_SECRET", hide_env_values = true)]
    carrier_webhook_secret: Option<String>,
    /// Every this many seconds, ask the carrier about the shipments still on
    /// their way and record what lost webhooks did not say (0: never).
    #[arg(long, env = "AGENTOS_CARRIER_POLL_SECONDS", default_value_t = 600)]
    carrier_poll_seconds: u64,
    /// Give the morning inventory scan ("check stock in every warehouse and
    /// reorder what is running low") every day at this UTC time, e.g. 06:00.
    #[arg(long, env = "AGENTOS_MORNING_SCAN", value_parser = time_of_day)]
    morning_scan: Option<NaiveTime>,
}

/// `HH:MM`.
fn time_of_day(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| format!("{text:?} is not a time of day such as 06:00"))
}

impl AdapterArgs {
    /// The ERP the Logistics agent uses, if ERPNext is configured.
    pub fn erp(&self, board: &HealthBoard) -> anyhow::Result<Option<Arc<dyn Erp>>> {
        let Some(url) = &self.erpnext_url else {
            return Ok(None);
        };
        let (Some(key), Some(secret)) = (&self.erpnext_api_key, &self.erpnext_api_secret) else {
            anyhow::bail!(
                "ERPNext needs an API key and secret: set AGENTOS_ERPNEXT_API_KEY and \
                 AGENTOS_ERPNEXT_API_SECRET"
            );
        };
        let erp = ErpNext::new(ErpNextConfig::new(url, key, secret), board)
            .context("cannot configure the ERPNext client")?;
        let mut stock = ErpNextStock::new(erp, self.currency);
        if let Some(spreadsheet) = &self.stock_counts_spreadsheet {
            let Some(token) = &self.sheets_token else {
                anyhow::bail!("the stock count sheet needs AGENTOS_SHEETS_TOKEN");
            };
            let sheets = Sheets::new(SheetsConfig::new(&self.sheets_url, token), board)
                .context("cannot configure the Google Sheets client")?;
            stock = stock.with_counts(CountSheet {
                sheets,
                spreadsheet_id: spreadsheet.clone(),
                range: self.stock_counts_range.clone(),
            });
        }
        Ok(Some(Arc::new(stock)))
    }

    /// The carrier's client, if an API key is configured.
    pub fn carrier(&self, board: &HealthBoard) -> anyhow::Result<Option<Carrier>> {
        let Some(key) = &self.carrier_api_key else {
            return Ok(None);
        };
        let carrier = Carrier::new(CarrierConfig::new(&self.carrier_url, key), board)
            .context("cannot configure the carrier client")?;
        Ok(Some(carrier))
    }

    /// How often to poll the carrier, if at all.
    pub fn carrier_poll(&self) -> Option<Duration> {
        (self.carrier_poll_seconds > 0).then(|| Duration::from_secs(self.carrier_poll_seconds))
    }

    /// The carrier's webhook secret, if configured.
    pub fn carrier_webhook_secret(&self) -> Option<String> {
        self.carrier_webhook_secret.clone()
    }

    /// The standing orders asked for.
    pub fn standing_orders(&self) -> Vec<StandingOrder> {
        self.morning_scan
            .map(StandingOrder::morning_scan)
            .into_iter()
            .collect()
    }
}

/// The demo company's systems, simulated on local ports for as long as
/// this lives.
pub struct Simulated {
    /// ERPNext with the demo company.
    pub erpnext: SimServer,
    /// Google Sheets with the demo's shelf counts.
    pub sheets: SimServer,
    /// The carrier, whose parcels move on with [`CarrierSim::advance_all`].
    pub carrier: SimServer,
    /// The carrier simulator's state.
    pub parcels: CarrierSim,
    /// The Logistics agent's ERP, over the simulators.
    pub erp: Arc<dyn Erp>,
    /// The shipment follower's carrier client.
    pub carrier_client: Carrier,
    /// The secret the simulated carrier signs its webhooks with.
    pub webhook_secret: String,
}

/// The demo's shelf counts: one disagrees with ERPNext (24 bolts fewer).
const DEMO_COUNTS: &[(&str, &str, i64)] = &[
    ("FAST-M4-20", "Stores - AC", 616),
    ("NUT-M4", "Stores - AC", 1800),
];

impl Simulated {
    /// Starts the simulators with the demo company and clients over them;
    /// the carrier posts its webhooks to the gateway at `listen`.
    pub async fn start(board: &HealthBoard, listen: &str) -> anyhow::Result<Simulated> {
        let key = "demo";
        let secret = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
        let company = ErpNextSim::demo_company(key, &secret)
            .map_err(|e| anyhow::anyhow!("cannot seed the demo company: {e}"))?;
        let erpnext = SimServer::start_local(company.router()).await?;
        let token = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
        let sheets_sim = SheetsSim::new(&token);
        sheets_sim
            .demo("demo-counts", DEMO_COUNTS)
            .map_err(|e| anyhow::anyhow!("cannot seed the demo sheet: {e}"))?;
        let sheets = SimServer::start_local(sheets_sim.router()).await?;
        let erp = ErpNext::new(ErpNextConfig::new(&erpnext.url(), key, &secret), board)?;
        let sheets_client = Sheets::new(SheetsConfig::new(sheets.url(), token), board)?;
        let range: A1Range = "'Stock Counts'!A1:D"
            .parse()
            .map_err(|e| anyhow::anyhow!("the demo range: {e}"))?;
        let stock = ErpNextStock::new(erp, "EUR".parse()?).with_counts(CountSheet {
            sheets: sheets_client,
            spreadsheet_id: "demo-counts".to_owned(),
            range,
        });
        let carrier_key = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
        let webhook_secret = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
        let parcels = CarrierSim::new(&carrier_key);
        parcels.set_webhook(
            format!("http://{listen}/api/v1/webhooks/carrier"),
            webhook_secret.clone(),
        );
        let carrier = SimServer::start_local(parcels.router()).await?;
        let carrier_client = Carrier::new(CarrierConfig::new(carrier.url(), carrier_key), board)?;
        Ok(Simulated {
            erpnext,
            sheets,
            carrier,
            parcels,
            erp: Arc::new(stock),
            carrier_client,
            webhook_secret,
        })
    }
}
