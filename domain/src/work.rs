//! The departments' work: the kinds of task each department carries out and
//! their typed parameters.
//!
//! A planned task carries its kind as text and its parameters as JSON, so a
//! plan can be stored and replayed as plain data. [`check_task`] is the one
//! place that reads them back into [`Work`]: a known [`TaskKind`], in the
//! right department, with parameters of the right shape (unknown fields
//! refused). The approval policy asks a kind whether it
//! [changes something](TaskKind::changes_something) or
//! [may spend money](TaskKind::may_spend).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::money::{Currency, Money};
use crate::plan::PlannedTask;
use crate::task::Department;

/// The kinds of task, each belonging to one department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Logistics: count stock levels and flag what is below its reorder point.
    InventoryScan,
    /// Logistics: draft purchase orders to restock.
    Reorder,
    /// Logistics: follow inbound shipments with the carriers.
    ShipmentTracking,
    /// Finance: check supplier invoices (duplicates, three-way match …).
    InvoiceAudit,
    /// Finance: pay a selection of invoices.
    PaymentRun,
    /// Finance: project cash in and out over a horizon.
    CashFlowForecast,
    /// Foundry: check that AgentOS's components are healthy.
    HealthCheck,
    /// Foundry: restart one component.
    Restart,
    /// Foundry: routine upkeep (vacuum, rebuild projections, rotate logs …).
    Maintenance,
    /// Foundry: deploy a version of AgentOS.
    Deploy,
}

impl TaskKind {
    /// Every kind, department by department.
    pub const ALL: [TaskKind; 10] = [
        TaskKind::InventoryScan,
        TaskKind::Reorder,
        TaskKind::ShipmentTracking,
        TaskKind::InvoiceAudit,
        TaskKind::PaymentRun,
        TaskKind::CashFlowForecast,
        TaskKind::HealthCheck,
        TaskKind::Restart,
        TaskKind::Maintenance,
        TaskKind::Deploy,
    ];

    /// The kind's stable name, as stored in plans and tasks.
    pub const fn as_str(self) -> &'static str {
        match self {
            TaskKind::InventoryScan => "inventory_scan",
            TaskKind::Reorder => "reorder",
            TaskKind::ShipmentTracking => "shipment_tracking",
            TaskKind::InvoiceAudit => "invoice_audit",
            TaskKind::PaymentRun => "payment_run",
            TaskKind::CashFlowForecast => "cash_flow_forecast",
            TaskKind::HealthCheck => "health_check",
            TaskKind::Restart => "restart",
            TaskKind::Maintenance => "maintenance",
            TaskKind::Deploy => "deploy",
        }
    }

    /// The department that carries it out.
    pub const fn department(self) -> Department {
        match self {
            TaskKind::InventoryScan | TaskKind::Reorder | TaskKind::ShipmentTracking => {
                Department::Logistics
            }
            TaskKind::InvoiceAudit | TaskKind::PaymentRun | TaskKind::CashFlowForecast => {
                Department::Finance
            }
            TaskKind::HealthCheck
            | TaskKind::Restart
            | TaskKind::Maintenance
            | TaskKind::Deploy => Department::Foundry,
        }
    }

    /// Whether it changes something outside AgentOS's records (as opposed to
    /// reading and reporting).
    pub const fn changes_something(self) -> bool {
        matches!(
            self,
            TaskKind::Reorder
                | TaskKind::PaymentRun
                | TaskKind::Restart
                | TaskKind::Maintenance
                | TaskKind::Deploy
        )
    }

    /// Whether it may commit the company's money.
    pub const fn may_spend(self) -> bool {
        matches!(self, TaskKind::Reorder | TaskKind::PaymentRun)
    }

    /// One line saying what it does, for people and for a model's prompt.
    pub const fn describe(self) -> &'static str {
        match self {
            TaskKind::InventoryScan => {
                "count stock levels (all SKUs or the listed ones) and flag what is below its reorder point"
            }
            TaskKind::Reorder => {
                "draft purchase orders for the listed SKUs (or for whatever is below its reorder point)"
            }
            TaskKind::ShipmentTracking => {
                "follow inbound shipments by tracking number, purchase order, supplier or SKU"
            }
            TaskKind::InvoiceAudit => {
                "audit supplier invoices of a period (duplicates, three-way match, price variance, missing PO)"
            }
            TaskKind::PaymentRun => "pay a selection of invoices (approved by default), up to a cap",
            TaskKind::CashFlowForecast => "forecast cash in and out over some weeks or a period",
            TaskKind::HealthCheck => "check that AgentOS's components are healthy",
            TaskKind::Restart => "restart one component (optionally only when it is unhealthy)",
            TaskKind::Maintenance => {
                "routine upkeep: vacuum the database, rebuild projections, rotate logs, verify chains, retry dead letters"
            }
            TaskKind::Deploy => "deploy a version of AgentOS to staging or production",
        }
    }

    /// The JSON schema of its parameters (what [`Work::parse`] accepts).
    pub fn params_schema(self) -> Value {
        let skus = json!({"type": "array", "items": {"type": "string", "description": "a SKU such as SKU-1042"}});
        let labels = json!({"type": "array", "items": {"type": "string"}});
        let text = json!({"type": "string"});
        let props = match self {
            TaskKind::InventoryScan => json!({"skus": skus, "warehouse": text}),
            TaskKind::Reorder => json!({
                "items": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
                    "required": ["sku"],
                    "additionalProperties": false,
                }},
                "supplier": text, "warehouse": text,
                "deliver_by": date_schema(), "budget": money_schema(),
            }),
            TaskKind::ShipmentTracking => json!({
                "tracking_numbers": labels, "purchase_orders": labels, "skus": skus,
                "supplier": text, "period": period_schema(),
                "contents": {"type": "array", "description": "what one parcel carries, from the supplier's shipping notice", "items": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
                    "required": ["sku", "quantity"],
                    "additionalProperties": false,
                }},
            }),
            TaskKind::InvoiceAudit => json!({
                "period": period_schema(),
                "checks": {"type": "array", "items": {"enum": ["duplicates", "three_way_match", "price_variance", "missing_purchase_order"]}},
                "supplier": text, "invoices": labels,
            }),
            TaskKind::PaymentRun => json!({
                "selection": {"enum": ["approved", "due", "overdue"]},
                "invoices": labels, "supplier": text,
                "due_by": date_schema(), "amount_cap": money_schema(),
            }),
            TaskKind::CashFlowForecast => json!({
                "horizon": {"oneOf": [
                    {"type": "object", "properties": {"weeks": {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON_WEEKS}}, "required": ["weeks"], "additionalProperties": false},
                    {"type": "object", "properties": {"period": period_schema()}, "required": ["period"], "additionalProperties": false},
                ]},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            }),
            TaskKind::HealthCheck => json!({"components": components_schema()}),
            TaskKind::Restart => json!({
                "component": component_schema(),
                "only_if_unhealthy": {"type": "boolean"},
            }),
            TaskKind::Maintenance => json!({
                "jobs": {"type": "array", "items": {"enum": ["vacuum_database", "rebuild_projections", "rotate_logs", "verify_chains", "retry_dead_letters"]}},
                "components": components_schema(),
                "window": period_schema(),
            }),
            TaskKind::Deploy => json!({
                "version": {"type": "string", "description": "absent: the latest release"},
                "environment": {"enum": ["staging", "production"]},
                "components": components_schema(),
                "window": period_schema(),
            }),
        };
        let required = match self {
            TaskKind::Restart => json!(["component"]),
            _ => json!([]),
        };
        json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
    }
}

fn date_schema() -> Value {
    json!({"type": "string", "format": "date", "description": "YYYY-MM-DD"})
}

fn period_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"from": date_schema(), "to": date_schema()},
        "required": ["from", "to"],
        "additionalProperties": false,
    })
}

fn money_schema() -> Value {
    json!({
        "type": "object",
        "description": "an amount in minor units (cents), e.g. {\"minor\": 500000, \"currency\": \"EUR\"} for EUR 5,000.00",
        "properties": {"minor": {"type": "integer"}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        "required": ["minor", "currency"],
        "additionalProperties": false,
    })
}

fn component_schema() -> Value {
    let names: Vec<&str> = Component::ALL.iter().map(|c| c.as_str()).collect();
    json!({"enum": names})
}

fn components_schema() -> Value {
    json!({"type": "array", "items": component_schema(), "description": "empty: all components"})
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskKind {
    type Err = WorkError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TaskKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| WorkError::UnknownKind(text.to_owned()))
    }
}

/// What is wrong with a task's kind or parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// No department does this kind of work.
    #[error("unknown task kind {0:?}")]
    UnknownKind(String),
    /// The kind belongs to another department.
    #[error("{kind} is {expected:?} work, not {found:?} work")]
    WrongDepartment {
        /// The kind.
        kind: TaskKind,
        /// Its department.
        expected: Department,
        /// The department the task named.
        found: Department,
    },
    /// The parameters do not fit the kind.
    #[error("invalid parameters for {kind}: {reason}")]
    InvalidParams {
        /// The kind.
        kind: TaskKind,
        /// What is wrong, as serde says it.
        reason: String,
    },
}

impl WorkError {
    /// A stable machine code for the rejection.
    pub const fn code(&self) -> &'static str {
        match self {
            WorkError::UnknownKind(_) => "work.unknown_kind",
            WorkError::WrongDepartment { .. } => "work.wrong_department",
            WorkError::InvalidParams { .. } => "work.invalid_params",
        }
    }
}

/// Why a text is not a SKU, a label or a period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// Not a SKU.
    #[error("invalid SKU {0:?}: expected up to 40 letters, digits, '-', '_' or '.'")]
    Sku(String),
    /// Empty, too long or holding control characters.
    #[error("invalid text {0:?}: expected 1 to 120 printable characters")]
    Label(String),
    /// A period that ends before it starts.
    #[error("a period cannot end ({to}) before it starts ({from})")]
    Period {
        /// The first day.
        from: NaiveDate,
        /// The last day.
        to: NaiveDate,
    },
    /// A forecast horizon out of range.
    #[error("a forecast horizon is 1 to {MAX_HORIZON_WEEKS} weeks, not {0}")]
    Weeks(u32),
}

/// A stock-keeping unit's code, upper-cased: `SKU-1042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Sku {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let code = text.trim();
        let ok = (1..=40).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Sku(code.to_ascii_uppercase()))
        } else {
            Err(InvalidValue::Sku(text.to_owned()))
        }
    }
}

impl TryFrom<String> for Sku {
    type Error = InvalidValue;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> String {
        sku.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short name or reference (supplier, warehouse, tracking number, version):
/// 1 to 120 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Label {
    type Err = InvalidValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if (1..=120).contains(&chars) && !trimmed.chars().any(char::is_control) {
            Ok(Label(trimmed.to_owned()))
        } else {
            Err(InvalidValue::Label(text.to_owned()))
        }
    }
}

impl TryFrom<String> for Label {
    type Error = InvalidValue;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Label> for String {
    fn from(label: Label) -> String {
        label.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Days from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PeriodFields")]
pub struct Period {
    /// The first day.
    pub from: NaiveDate,
    /// The last day.
    pub to: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodFields {
    from: NaiveDate,
    to: NaiveDate,
}

impl TryFrom<PeriodFields> for Period {
    type Error = InvalidValue;

    fn try_from(fields: PeriodFields) -> Result<Self, Self::Error> {
        Period::new(fields.from, fields.to)
    }
}

impl Period {
    /// The days from `from` to `to`, unless it ends before it starts.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, InvalidValue> {
        if to < from {
            return Err(InvalidValue::Period { from, to });
        }
        Ok(Period { from, to })
    }
}

/// The longest cash-flow forecast, in weeks (two years).
pub const MAX_HORIZON_WEEKS: u32 = 104;

/// A number of weeks for a forecast, 1 to [`MAX_HORIZON_WEEKS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Weeks(u32);

impl Weeks {
    /// The number of weeks.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Weeks {
    type Error = InvalidValue;

    fn try_from(weeks: u32) -> Result<Self, Self::Error> {
        if (1..=MAX_HORIZON_WEEKS).contains(&weeks) {
            Ok(Weeks(weeks))
        } else {
            Err(InvalidValue::Weeks(weeks))
        }
    }
}

impl From<Weeks> for u32 {
    fn from(weeks: Weeks) -> u32 {
        weeks.0
    }
}

/// A part of AgentOS that the Foundry looks after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// The HTTP gateway.
    Gateway,
    /// The relay from the event store to the bus.
    Relay,
    /// The orchestrator ("the Brain").
    Orchestrator,
    /// The projection runner and read models.
    Projections,
    /// The event store's database.
    Database,
    /// The message bus (NATS JetStream).
    Bus,
    /// The dashboard.
    Dashboard,
    /// The Logistics department's agent.
    LogisticsAgent,
    /// The Finance department's agent.
    FinanceAgent,
    /// The Foundry department's agent.
    FoundryAgent,
}

impl Component {
    /// Every component.
    pub const ALL: [Component; 10] = [
        Component::Gateway,
        Component::Relay,
        Component::Orchestrator,
        Component::Projections,
        Component::Database,
        Component::Bus,
        Component::Dashboard,
        Component::LogisticsAgent,
        Component::FinanceAgent,
        Component::FoundryAgent,
    ];

    /// Its stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Component::Gateway => "gateway",
            Component::Relay => "relay",
            Component::Orchestrator => "orchestrator",
            Component::Projections => "projections",
            Component::Database => "database",
            Component::Bus => "bus",
            Component::Dashboard => "dashboard",
            Component::LogisticsAgent => "logistics_agent",
            Component::FinanceAgent => "finance_agent",
            Component::FoundryAgent => "foundry_agent",
        }
    }
}

/// `inventory_scan`: count stock levels.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryScan {
    /// Only these SKUs (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<Sku>,
    /// Only this warehouse (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<Label>,
}

/// One line of a reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderLine {
    /// What to order.
    pub sku: Sku,
    /// How many (the SKU's usual reorder quantity when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<NonZeroU32>,
}

/// `reorder`: draft purchase orders.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reorder {
    /// What to order; when empty, whatever is below its reorder point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ReorderLine>,
    /// From whom (each SKU's usual supplier when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Label>,
    /// Where to deliver (the default warehouse when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<Label>,
    /// The latest delivery date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_by: Option<NaiveDate>,
    /// The most the orders may cost together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Money>,
}

/// `shipment_tracking`: follow inbound shipments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentTracking {
    /// Carriers' tracking numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracking_numbers: Vec<Label>,
    /// Purchase orders whose shipments to follow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purchase_orders: Vec<Label>,
    /// Shipments carrying these SKUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<Sku>,
    /// Shipments from this supplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Label>,
    /// Shipments expected within this period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// What the parcel carries, as the supplier's shipping notice says (one
    /// tracking number only): delivered, it is received as exactly this, so
    /// a partial delivery leaves its order open. Absent: a delivered parcel
    /// brings everything its order still awaits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<ParcelLine>,
}

/// What a parcel carries of one SKU.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParcelLine {
    /// The SKU.
    pub sku: Sku,
    /// How many units.
    pub quantity: NonZeroU32,
}

/// The first SKU a parcel's contents name twice, if any: a shipping notice
/// names each SKU once.
pub fn repeated_sku(contents: &[ParcelLine]) -> Option<&Sku> {
    let mut seen = std::collections::BTreeSet::new();
    contents
        .iter()
        .find(|line| !seen.insert(&line.sku))
        .map(|line| &line.sku)
}

/// A check of an invoice audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditCheck {
    /// The same invoice entered twice.
    Duplicates,
    /// Invoice, purchase order and goods receipt agree.
    ThreeWayMatch,
    /// Prices above the purchase order's.
    PriceVariance,
    /// Invoices without a purchase order.
    MissingPurchaseOrder,
}

/// `invoice_audit`: check supplier invoices.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceAudit {
    /// Invoices dated within this period (all unaudited ones when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Which checks (all of them when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<AuditCheck>,
    /// Only this supplier's invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Label>,
    /// Only these invoices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invoices: Vec<Label>,
}

/// Which invoices a payment run pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceSelection {
    /// Invoices approved for payment (e.g. by an audit).
    #[default]
    Approved,
    /// Approved invoices falling due.
    Due,
    /// Approved invoices past their due date.
    Overdue,
}

/// `payment_run`: pay invoices.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRun {
    /// Which invoices.
    #[serde(default)]
    pub selection: InvoiceSelection,
    /// Only these invoices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invoices: Vec<Label>,
    /// Only this supplier's invoices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Label>,
    /// Only invoices due by this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_by: Option<NaiveDate>,
    /// The most the run may pay in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cap: Option<Money>,
}

/// How far a forecast looks ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Horizon {
    /// Some weeks from the day the task runs.
    Weeks(Weeks),
    /// A period of days.
    Period(Period),
}

/// The usual forecast: thirteen weeks.
pub const DEFAULT_HORIZON_WEEKS: u32 = 13;

impl Default for Horizon {
    fn default() -> Self {
        Horizon::Weeks(Weeks(DEFAULT_HORIZON_WEEKS))
    }
}

/// `cash_flow_forecast`: project cash in and out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashFlowForecast {
    /// How far ahead.
    #[serde(default)]
    pub horizon: Horizon,
    /// The reporting currency (the company's when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

/// `health_check`: check components.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Which components (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

/// `restart`: restart one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// Which component.
    pub component: Component,
    /// Only when a health check finds it unhealthy.
    #[serde(default)]
    pub only_if_unhealthy: bool,
}

/// A job of a maintenance task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceJob {
    /// Reclaim the database's space and refresh its statistics.
    VacuumDatabase,
    /// Rebuild read models from the event log.
    RebuildProjections,
    /// Rotate and compress logs.
    RotateLogs,
    /// Verify the event streams' hash chains.
    VerifyChains,
    /// Retry events that processors gave up on.
    RetryDeadLetters,
}

/// `maintenance`: routine upkeep.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Which jobs (the routine ones when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<MaintenanceJob>,
    /// Which components (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// When (as soon as possible when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Period>,
}

/// Where a deployment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// The rehearsal environment.
    Staging,
    /// The live system.
    #[default]
    Production,
}

/// `deploy`: deploy a version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// Which version (the latest release when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Label>,
    /// Where to.
    #[serde(default)]
    pub environment: Environment,
    /// Which components (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// When (as soon as approved when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Period>,
}

/// A task's work: its kind with its typed parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// See [`InventoryScan`].
    InventoryScan(InventoryScan),
    /// See [`Reorder`].
    Reorder(Reorder),
    /// See [`ShipmentTracking`].
    ShipmentTracking(ShipmentTracking),
    /// See [`InvoiceAudit`].
    InvoiceAudit(InvoiceAudit),
    /// See [`PaymentRun`].
    PaymentRun(PaymentRun),
    /// See [`CashFlowForecast`].
    CashFlowForecast(CashFlowForecast),
    /// See [`HealthCheck`].
    HealthCheck(HealthCheck),
    /// See [`Restart`].
    Restart(Restart),
    /// See [`Maintenance`].
    Maintenance(Maintenance),
    /// See [`Deploy`].
    Deploy(Deploy),
}

fn params<T: DeserializeOwned>(kind: TaskKind, params: &Value) -> Result<T, WorkError> {
    // A task planned without parameters means "all defaults".
    let value = match params {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other.clone(),
    };
    serde_json::from_value(value).map_err(|e| WorkError::InvalidParams {
        kind,
        reason: e.to_string(),
    })
}

impl Work {
    /// Reads a kind's parameters.
    pub fn parse(kind: TaskKind, value: &Value) -> Result<Work, WorkError> {
        Ok(match kind {
            TaskKind::InventoryScan => Work::InventoryScan(params(kind, value)?),
            TaskKind::Reorder => Work::Reorder(params(kind, value)?),
            TaskKind::ShipmentTracking => Work::ShipmentTracking(params(kind, value)?),
            TaskKind::InvoiceAudit => Work::InvoiceAudit(params(kind, value)?),
            TaskKind::PaymentRun => Work::PaymentRun(params(kind, value)?),
            TaskKind::CashFlowForecast => Work::CashFlowForecast(params(kind, value)?),
            TaskKind::HealthCheck => Work::HealthCheck(params(kind, value)?),
            TaskKind::Restart => Work::Restart(params(kind, value)?),
            TaskKind::Maintenance => Work::Maintenance(params(kind, value)?),
            TaskKind::Deploy => Work::Deploy(params(kind, value)?),
        })
    }

    /// Its kind.
    pub const fn kind(&self) -> TaskKind {
        match self {
            Work::InventoryScan(_) => TaskKind::InventoryScan,
            Work::Reorder(_) => TaskKind::Reorder,
            Work::ShipmentTracking(_) => TaskKind::ShipmentTracking,
            Work::InvoiceAudit(_) => TaskKind::InvoiceAudit,
            Work::PaymentRun(_) => TaskKind::PaymentRun,
            Work::CashFlowForecast(_) => TaskKind::CashFlowForecast,
            Work::HealthCheck(_) => TaskKind::HealthCheck,
            Work::Restart(_) => TaskKind::Restart,
            Work::Maintenance(_) => TaskKind::Maintenance,
            Work::Deploy(_) => TaskKind::Deploy,
        }
    }

    /// Its parameters as JSON, as a [`PlannedTask`] carries them.
    pub fn params(&self) -> Value {
        let value = match self {
            Work::InventoryScan(p) => serde_json::to_value(p),
            Work::Reorder(p) => serde_json::to_value(p),
            Work::ShipmentTracking(p) => serde_json::to_value(p),
            Work::InvoiceAudit(p) => serde_json::to_value(p),
            Work::PaymentRun(p) => serde_json::to_value(p),
            Work::CashFlowForecast(p) => serde_json::to_value(p),
            Work::HealthCheck(p) => serde_json::to_value(p),
            Work::Restart(p) => serde_json::to_value(p),
            Work::Maintenance(p) => serde_json::to_value(p),
            Work::Deploy(p) => serde_json::to_value(p),
        };
        value.expect("parameters are plain structs with string keys, always JSON")
    }

    /// The most it may spend, when it says so (a reorder's budget, a payment
    /// run's cap).
    pub fn spending_cap(&self) -> Option<Money> {
        match self {
            Work::Reorder(p) => p.budget,
            Work::PaymentRun(p) => p.amount_cap,
            _ => None,
        }
    }
}

/// Reads a planned task's work: a known kind, in the task's department, with
/// parameters that fit it.
pub fn check_task(task: &PlannedTask) -> Result<Work, WorkError> {
    let kind: TaskKind = task.kind.parse()?;
    if kind.department() != task.department {
        return Err(WorkError::WrongDepartment {
            kind,
            expected: kind.department(),
            found: task.department,
        });
    }
    Work::parse(kind, &task.params)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn planned(department: Department, kind: &str, params: Value) -> PlannedTask {
        PlannedTask {
            key: "t1".to_owned(),
            department,
            kind: kind.to_owned(),
            params,
            depends_on: Vec::new(),
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn every_kind_names_itself_and_its_department() {
        for kind in TaskKind::ALL {
            assert_eq!(kind.as_str().parse::<TaskKind>(), Ok(kind));
            let json = serde_json::to_value(kind).expect("serialise");
            assert_eq!(json, Value::String(kind.as_str().to_owned()));
            assert!(!kind.describe().is_empty());
        }
        assert_eq!(TaskKind::Reorder.department(), Department::Logistics);
        assert_eq!(TaskKind::PaymentRun.department(), Department::Finance);
        assert_eq!(TaskKind::Deploy.department(), Department::Foundry);
    }

    #[test]
    fn only_changes_and_spending_are_flagged() {
        let changes: Vec<&str> = TaskKind::ALL
            .into_iter()
            .filter(|k| k.changes_something())
            .map(TaskKind::as_str)
            .collect();
        assert_eq!(
            changes,
            ["reorder", "payment_run", "restart", "maintenance", "deploy"]
        );
        let spends: Vec<&str> = TaskKind::ALL
            .into_iter()
            .filter(|k| k.may_spend())
            .map(TaskKind::as_str)
            .collect();
        assert_eq!(spends, ["reorder", "payment_run"]);
        assert!(!TaskKind::HealthCheck.changes_something());
    }

    #[test]
    fn a_good_task_reads_as_typed_work() {
        let task = planned(
            Department::Logistics,
            "reorder",
            json!({
                "items": [{"sku": "sku-1042", "quantity": 200}, {"sku": "ABC-123"}],
                "supplier": "Acme Corp",
                "deliver_by": "2026-12-15",
                "budget": {"minor": 500000, "currency": "EUR"},
            }),
        );
        let Work::Reorder(reorder) = check_task(&task).expect("valid") else {
            panic!("a reorder");
        };
        assert_eq!(reorder.items[0].sku.as_str(), "SKU-1042");
        assert_eq!(reorder.items[0].quantity.map(NonZeroU32::get), Some(200));
        assert_eq!(reorder.items[1].quantity, None);
        assert_eq!(reorder.deliver_by, Some(date(2026, 12, 15)));
        assert_eq!(
            Work::Reorder(reorder.clone())
                .spending_cap()
                .map(|m| m.minor),
            Some(500_000)
        );
    }

    #[test]
    fn missing_params_mean_defaults_where_a_kind_has_them() {
        let scan = planned(Department::Logistics, "inventory_scan", Value::Null);
        assert_eq!(
            check_task(&scan),
            Ok(Work::InventoryScan(InventoryScan::default()))
        );
        let forecast = planned(Department::Finance, "cash_flow_forecast", json!({}));
        let Ok(Work::CashFlowForecast(f)) = check_task(&forecast) else {
            panic!("a forecast");
        };
        assert_eq!(f.horizon, Horizon::Weeks(Weeks(13)));
        let restart = planned(Department::Foundry, "restart", Value::Null);
        assert_eq!(
            check_task(&restart).map_err(|e| e.code()),
            Err("work.invalid_params")
        );
    }

    #[test]
    fn bad_tasks_are_refused_with_a_reason() {
        let cases = [
            (
                planned(Department::Finance, "dance", json!({})),
                "work.unknown_kind",
            ),
            (
                planned(Department::Finance, "reorder", json!({})),
                "work.wrong_department",
            ),
            (
                planned(
                    Department::Finance,
                    "payment_run",
                    json!({"approve_all": true}),
                ),
                "work.invalid_params",
            ),
            (
                planned(
                    Department::Finance,
                    "payment_run",
                    json!({"selection": "everything"}),
                ),
                "work.invalid_params",
            ),
            (
                planned(
                    Department::Finance,
                    "invoice_audit",
                    json!({"period": {"from": "2026-07-31", "to": "2026-07-01"}}),
                ),
                "work.invalid_params",
            ),
            (
                planned(
                    Department::Finance,
                    "cash_flow_forecast",
                    json!({"horizon": {"weeks": 0}}),
                ),
                "work.invalid_params",
            ),
            (
                planned(
                    Department::Logistics,
                    "reorder",
                    json!({"items": [{"sku": "SKU 1", "quantity": 1}]}),
                ),
                "work.invalid_params",
            ),
            (
                planned(
                    Department::Logistics,
                    "reorder",
                    json!({"items": [{"sku": "SKU-1", "quantity": 0}]}),
                ),
                "work.invalid_params",
            ),
            (
                planned(
                    Department::Logistics,
                    "shipment_tracking",
                    json!({"supplier": "  "}),
                ),
                "work.invalid_params",
            ),
            (
                planned(
                    Department::Foundry,
                    "restart",
                    json!({"component": "kettle"}),
                ),
                "work.invalid_params",
            ),
            (
                planned(Department::Foundry, "deploy", json!([1, 2])),
                "work.invalid_params",
            ),
        ];
        for (task, code) in cases {
            let got = check_task(&task);
            assert_eq!(
                got.as_ref().map_err(WorkError::code),
                Err(code),
                "{task:?}: {got:?}"
            );
        }
    }

    #[test]
    fn every_schema_lists_exactly_the_fields_of_its_params() {
        let full = [
            Work::InventoryScan(InventoryScan {
                skus: vec!["A-1".parse().expect("sku")],
                warehouse: Some("Main".parse().expect("label")),
            }),
            Work::Reorder(Reorder {
                items: vec![ReorderLine {
                    sku: "A-1".parse().expect("sku"),
                    quantity: NonZeroU32::new(3),
                }],
                supplier: Some("Acme".parse().expect("label")),
                warehouse: Some("Main".parse().expect("label")),
                deliver_by: Some(date(2026, 1, 1)),
                budget: Some(Money::new(1, "EUR".parse().expect("currency"))),
            }),
            Work::ShipmentTracking(ShipmentTracking {
                tracking_numbers: vec!["1Z".parse().expect("label")],
                purchase_orders: vec!["PO-1".parse().expect("label")],
                skus: vec!["A-1".parse().expect("sku")],
                supplier: Some("Acme".parse().expect("label")),
                period: Some(Period::new(date(2026, 1, 1), date(2026, 1, 2)).expect("period")),
                contents: vec![ParcelLine {
                    sku: "A-1".parse().expect("sku"),
                    quantity: NonZeroU32::MIN,
                }],
            }),
            Work::InvoiceAudit(InvoiceAudit {
                period: Some(Period::new(date(2026, 1, 1), date(2026, 1, 2)).expect("period")),
                checks: vec![AuditCheck::Duplicates],
                supplier: Some("Acme".parse().expect("label")),
                invoices: vec!["INV-1".parse().expect("label")],
            }),
            Work::PaymentRun(PaymentRun {
                selection: InvoiceSelection::Due,
                invoices: vec!["INV-1".parse().expect("label")],
                supplier: Some("Acme".parse().expect("label")),
                due_by: Some(date(2026, 1, 1)),
                amount_cap: Some(Money::new(1, "EUR".parse().expect("currency"))),
            }),
            Work::CashFlowForecast(CashFlowForecast {
                horizon: Horizon::Weeks(Weeks(4)),
                currency: Some("EUR".parse().expect("currency")),
            }),
            Work::HealthCheck(HealthCheck {
                components: vec![Component::Relay],
            }),
            Work::Restart(Restart {
                component: Component::Relay,
                only_if_unhealthy: true,
            }),
            Work::Maintenance(Maintenance {
                jobs: vec![MaintenanceJob::VacuumDatabase],
                components: vec![Component::Database],
                window: Some(Period::new(date(2026, 1, 1), date(2026, 1, 2)).expect("period")),
            }),
            Work::Deploy(Deploy {
                version: Some("1.4.2".parse().expect("label")),
                environment: Environment::Staging,
                components: vec![Component::Gateway],
                window: Some(Period::new(date(2026, 1, 1), date(2026, 1, 2)).expect("period")),
            }),
        ];
        for work in full {
            let params = work.params();
            let mut fields: Vec<&String> = params.as_object().expect("an object").keys().collect();
            fields.sort();
            let schema = work.kind().params_schema();
            let mut declared: Vec<&String> = schema["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .collect();
            declared.sort();
            assert_eq!(fields, declared, "{}", work.kind());
            assert_eq!(Work::parse(work.kind(), &params), Ok(work));
        }
    }

    fn label() -> impl Strategy<Value = Label> {
        "[A-Za-z0-9][A-Za-z0-9 .&-]{0,20}".prop_filter_map("a label", |s| s.parse().ok())
    }

    fn sku() -> impl Strategy<Value = Sku> {
        "[A-Za-z0-9_.-]{1,40}".prop_filter_map("a sku", |s| s.parse().ok())
    }

    fn day() -> impl Strategy<Value = NaiveDate> {
        (2000_i32..2100, 1_u32..=366)
            .prop_filter_map("a day", |(y, d)| NaiveDate::from_yo_opt(y, d))
    }

    fn period() -> impl Strategy<Value = Period> {
        (day(), 0_i64..400).prop_filter_map("a period", |(from, days)| {
            Period::new(from, from.checked_add_signed(chrono::Duration::days(days))?).ok()
        })
    }

    fn money() -> impl Strategy<Value = Money> {
        (
            any::<i64>(),
            prop::sample::select(vec!["EUR", "USD", "JPY"]),
        )
            .prop_map(|(minor, c)| Money::new(minor, c.parse().expect("currency")))
    }

    fn component() -> impl Strategy<Value = Component> {
        prop::sample::select(Component::ALL.to_vec())
    }

    fn work() -> impl Strategy<Value = Work> {
        prop_oneof![
            (
                prop::collection::vec(sku(), 0..3),
                prop::option::of(label())
            )
                .prop_map(|(skus, warehouse)| Work::InventoryScan(InventoryScan {
                    skus,
                    warehouse
                })),
            (
                prop::collection::vec((sku(), prop::option::of(1_u32..100_000)), 0..3),
                prop::option::of(label()),
                prop::option::of(day()),
                prop::option::of(money()),
            )
                .prop_map(|(items, supplier, deliver_by, budget)| Work::Reorder(
                    Reorder {
                        items: items
                            .into_iter()
                            .map(|(sku, q)| ReorderLine {
                                sku,
                                quantity: q.and_then(NonZeroU32::new)
                            })
                            .collect(),
                        supplier,
                        warehouse: None,
                        deliver_by,
                        budget,
                    }
                )),
            (
                prop::collection::vec(label(), 0..3),
                prop::option::of(period())
            )
                .prop_map(|(tracking_numbers, period)| Work::ShipmentTracking(
                    ShipmentTracking {
                        tracking_numbers,
                        period,
                        ..ShipmentTracking::default()
                    }
                )),
            (prop::option::of(period()), any::<bool>()).prop_map(|(period, dup)| {
                Work::InvoiceAudit(InvoiceAudit {
                    period,
                    checks: if dup {
                        vec![AuditCheck::Duplicates]
                    } else {
                        Vec::new()
                    },
                    ..InvoiceAudit::default()
                })
            }),
            (prop::option::of(money()), prop::option::of(day())).prop_map(
                |(amount_cap, due_by)| {
                    Work::PaymentRun(PaymentRun {
                        amount_cap,
                        due_by,
                        ..PaymentRun::default()
                    })
                }
            ),
            prop_oneof![
                (1..=MAX_HORIZON_WEEKS).prop_map(|w| Horizon::Weeks(Weeks(w))),
                period().prop_map(Horizon::Period),
            ]
            .prop_map(|horizon| Work::CashFlowForecast(CashFlowForecast {
                horizon,
                currency: None
            })),
            prop::collection::vec(component(), 0..3)
                .prop_map(|components| Work::HealthCheck(HealthCheck { components })),
            (component(), any::<bool>()).prop_map(|(component, only_if_unhealthy)| {
                Work::Restart(Restart {
                    component,
                    only_if_unhealthy,
                })
            }),
            (
                prop::option::of(period()),
                prop::collection::vec(component(), 0..2)
            )
                .prop_map(|(window, components)| Work::Maintenance(Maintenance {
                    jobs: vec![MaintenanceJob::RotateLogs],
                    components,
                    window,
                })),
            (prop::option::of(label()), any::<bool>()).prop_map(|(version, staging)| {
                Work::Deploy(Deploy {
                    version,
                    environment: if staging {
                        Environment::Staging
                    } else {
                        Environment::Production
                    },
                    ..Deploy::default()
                })
            }),
        ]
    }

    proptest! {
        /// Any work's parameters, through JSON text and back, read as the
        /// same work, and its task passes the check.
        #[test]
        fn params_round_trip_through_json(work in work()) {
            let text = serde_json::to_string(&work.params()).expect("serialise");
            let value: Value = serde_json::from_str(&text).expect("parse");
            prop_assert_eq!(Work::parse(work.kind(), &value), Ok(work.clone()));
            let task = planned(work.kind().department(), work.kind().as_str(), value);
            prop_assert_eq!(check_task(&task), Ok(work));
        }

        /// Arbitrary JSON never makes the check panic.
        #[test]
        fn arbitrary_params_never_panic(kind in prop::sample::select(TaskKind::ALL.to_vec()),
                                        key in "[a-z_]{1,12}", n in any::<i64>(), s in ".{0,20}") {
            let _ = Work::parse(kind, &json!({ key.clone(): n }));
            let _ = Work::parse(kind, &json!({ key: s }));
        }
    }
}
