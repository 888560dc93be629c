//! Reading one clause: what it asks for (its triggers) and the things it
//! names (SKUs, quantities, amounts, suppliers, dates and periods,
//! components …). Words it does not know are kept, so the planner can ask
//! instead of guessing.

use std::num::NonZeroU32;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use domain::work::{
    AuditCheck, Component, Environment, InvoiceSelection, Label, MaintenanceJob, Period, Sku,
};
use domain::{Currency, Money};

use super::text::Word;

/// What a clause asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Intent {
    /// One kind of task.
    Kind(domain::work::TaskKind),
    /// Check a component and restart it if it is unhealthy.
    Fix,
}

/// A word that asks for something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Trigger {
    /// What it asks for.
    pub intent: Intent,
    /// A verb ("pay") rather than a noun ("payments").
    pub verb: bool,
}

/// A time the clause names, read against the day the order was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    /// One day ("tomorrow", "2026-12-15").
    Day(NaiveDate),
    /// A day by which something is due ("by 2026-12-15").
    Deadline(NaiveDate),
    /// A period ("this month", "Q3", "next 30 days").
    Span(Period),
    /// A number of weeks from now ("next 13 weeks").
    Weeks(u32),
}

/// A SKU and how many of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SkuMention {
    /// The SKU.
    pub sku: Sku,
    /// How many, when said.
    pub quantity: Option<NonZeroU32>,
    /// Its word's index in the clause.
    pub at: usize,
}

/// Everything read from a clause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Reading {
    /// What it asks for, in order.
    pub triggers: Vec<Trigger>,
    /// A generic verb ("check", "run", "prepare") was used.
    pub generic_verb: bool,
    /// SKUs named.
    pub skus: Vec<SkuMention>,
    /// Quantities that belong to no SKU.
    pub loose_quantities: Vec<u32>,
    /// Amounts of money.
    pub amounts: Vec<Money>,
    /// A currency named without an amount ("in EUR").
    pub currency: Option<Currency>,
    /// A supplier ("from Acme Corp").
    pub supplier: Option<Label>,
    /// A warehouse ("warehouse B").
    pub warehouse: Option<Label>,
    /// Purchase-order references (`PO-1234`).
    pub purchase_orders: Vec<Label>,
    /// Invoice references (`INV-77`, "invoice #77").
    pub invoices: Vec<Label>,
    /// Carriers' tracking numbers.
    pub tracking: Vec<Label>,
    /// A version ("1.4.2").
    pub version: Option<Label>,
    /// An environment ("staging").
    pub environment: Option<Environment>,
    /// Components named.
    pub components: Vec<Component>,
    /// "the system", "everything".
    pub all_components: bool,
    /// Invoice-audit checks named.
    pub checks: Vec<AuditCheck>,
    /// Maintenance jobs named.
    pub jobs: Vec<MaintenanceJob>,
    /// Which invoices ("approved", "overdue").
    pub selection: Option<InvoiceSelection>,
    /// Times named.
    pub when: Vec<When>,
    /// It refers to an earlier result ("them", "the approved ones", "what is low").
    pub backref: bool,
    /// "if unhealthy", "if needed".
    pub conditional: bool,
    /// It says what not to do ("don't", "never", "cancel").
    pub negated: bool,
    /// Numbers that mean nothing known.
    pub stray_numbers: Vec<String>,
    /// Words not known, as written.
    pub unknown: Vec<String>,
}

/// What a known word or phrase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Filler,
    Generic,
    Component(Component),
    AllComponents,
    Check(AuditCheck),
    Job(MaintenanceJob),
    Selection(InvoiceSelection),
    Environment(Environment),
    Backref,
    Conditional,
    Negation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lexeme {
    trigger: Option<Trigger>,
    tag: Tag,
}

use domain::work::TaskKind as K;

const fn verb(kind: K) -> Option<Trigger> {
    Some(Trigger {
        intent: Intent::Kind(kind),
        verb: true,
    })
}

const fn noun(kind: K) -> Option<Trigger> {
    Some(Trigger {
        intent: Intent::Kind(kind),
        verb: false,
    })
}

const fn lex(trigger: Option<Trigger>, tag: Tag) -> Lexeme {
    Lexeme { trigger, tag }
}

/// Known phrases of several words, longest first.
const PHRASES: &[(&[&str], Lexeme)] = &[
    (
        &["without", "a", "purchase", "order"],
        lex(
            noun(K::InvoiceAudit),
            Tag::Check(AuditCheck::MissingPurchaseOrder),
        ),
    ),
    (
        &["below", "the", "reorder", "point"],
        lex(None, Tag::Backref),
    ),
    (
        &["if", "it", "is", "unhealthy"],
        lex(None, Tag::Conditional),
    ),
    (&["if", "it", "is", "down"], lex(None, Tag::Conditional)),
    (
        &["three", "way", "match"],
        lex(noun(K::InvoiceAudit), Tag::Check(AuditCheck::ThreeWayMatch)),
    ),
    (
        &["missing", "purchase", "orders"],
        lex(
            noun(K::InvoiceAudit),
            Tag::Check(AuditCheck::MissingPurchaseOrder),
        ),
    ),
    (
        &["without", "purchase", "orders"],
        lex(
            noun(K::InvoiceAudit),
            Tag::Check(AuditCheck::MissingPurchaseOrder),
        ),
    ),
    (
        &["without", "a", "po"],
        lex(
            noun(K::InvoiceAudit),
            Tag::Check(AuditCheck::MissingPurchaseOrder),
        ),
    ),
    (&["below", "reorder", "point"], lex(None, Tag::Backref)),
    (
        &["rebuild", "the", "projections"],
        lex(
            verb(K::Maintenance),
            Tag::Job(MaintenanceJob::RebuildProjections),
        ),
    ),
    (
        &["rotate", "the", "logs"],
        lex(verb(K::Maintenance), Tag::Job(MaintenanceJob::RotateLogs)),
    ),
    (
        &["verify", "the", "chains"],
        lex(verb(K::Maintenance), Tag::Job(MaintenanceJob::VerifyChains)),
    ),
    (&["no", "more", "than"], lex(None, Tag::Filler)),
    (&["not", "more", "than"], lex(None, Tag::Filler)),
    (&["purchase", "orders"], lex(noun(K::Reorder), Tag::Filler)),
    (&["purchase", "order"], lex(noun(K::Reorder), Tag::Filler)),
    (&["reorder", "point"], lex(None, Tag::Filler)),
    (&["reorder", "points"], lex(None, Tag::Filler)),
    (
        &["stock", "count"],
        lex(noun(K::InventoryScan), Tag::Filler),
    ),
    (
        &["stock", "levels"],
        lex(noun(K::InventoryScan), Tag::Filler),
    ),
    (
        &["stock", "level"],
        lex(noun(K::InventoryScan), Tag::Filler),
    ),
    (&["take", "stock"], lex(verb(K::InventoryScan), Tag::Filler)),
    (&["top", "up"], lex(verb(K::Reorder), Tag::Filler)),
    (
        &["cash", "flow"],
        lex(noun(K::CashFlowForecast), Tag::Filler),
    ),
    (
        &["cash", "position"],
        lex(noun(K::CashFlowForecast), Tag::Filler),
    ),
    (&["health", "check"], lex(noun(K::HealthCheck), Tag::Filler)),
    (
        &["health", "checks"],
        lex(noun(K::HealthCheck), Tag::Filler),
    ),
    (&["payment", "run"], lex(noun(K::PaymentRun), Tag::Filler)),
    (&["roll", "out"], lex(verb(K::Deploy), Tag::Filler)),
    (&["clean", "up"], lex(verb(K::Maintenance), Tag::Filler)),
    (
        &["where", "is"],
        lex(noun(K::ShipmentTracking), Tag::Filler),
    ),
    (
        &["where", "are"],
        lex(noun(K::ShipmentTracking), Tag::Filler),
    ),
    (
        &["logistics", "agent"],
        lex(None, Tag::Component(Component::LogisticsAgent)),
    ),
    (
        &["finance", "agent"],
        lex(None, Tag::Component(Component::FinanceAgent)),
    ),
    (
        &["foundry", "agent"],
        lex(None, Tag::Component(Component::FoundryAgent)),
    ),
    (
        &["event", "store"],
        lex(None, Tag::Component(Component::Database)),
    ),
    (
        &["read", "models"],
        lex(None, Tag::Component(Component::Projections)),
    ),
    (
        &["message", "bus"],
        lex(None, Tag::Component(Component::Bus)),
    ),
    (
        &["three-way", "match"],
        lex(noun(K::InvoiceAudit), Tag::Check(AuditCheck::ThreeWayMatch)),
    ),
    (
        &["3-way", "match"],
        lex(noun(K::InvoiceAudit), Tag::Check(AuditCheck::ThreeWayMatch)),
    ),
    (
        &["price", "variance"],
        lex(noun(K::InvoiceAudit), Tag::Check(AuditCheck::PriceVariance)),
    ),
    (
        &["price", "variances"],
        lex(noun(K::InvoiceAudit), Tag::Check(AuditCheck::PriceVariance)),
    ),
    (
        &["missing", "po"],
        lex(
            noun(K::InvoiceAudit),
            Tag::Check(AuditCheck::MissingPurchaseOrder),
        ),
    ),
    (
        &["missing", "pos"],
        lex(
            noun(K::InvoiceAudit),
            Tag::Check(AuditCheck::MissingPurchaseOrder),
        ),
    ),
    (
        &["without", "po"],
        lex(
            noun(K::InvoiceAudit),
            Tag::Check(AuditCheck::MissingPurchaseOrder),
        ),
    ),
    (
        &["dead", "letters"],
        lex(
            noun(K::Maintenance),
            Tag::Job(MaintenanceJob::RetryDeadLetters),
        ),
    ),
    (
        &["dead", "letter"],
        lex(
            noun(K::Maintenance),
            Tag::Job(MaintenanceJob::RetryDeadLetters),
        ),
    ),
    (
        &["rebuild", "projections"],
        lex(
            verb(K::Maintenance),
            Tag::Job(MaintenanceJob::RebuildProjections),
        ),
    ),
    (
        &["replay", "projections"],
        lex(
            verb(K::Maintenance),
            Tag::Job(MaintenanceJob::RebuildProjections),
        ),
    ),
    (
        &["rotate", "logs"],
        lex(verb(K::Maintenance), Tag::Job(MaintenanceJob::RotateLogs)),
    ),
    (
        &["hash", "chains"],
        lex(noun(K::Maintenance), Tag::Job(MaintenanceJob::VerifyChains)),
    ),
    (
        &["hash", "chain"],
        lex(noun(K::Maintenance), Tag::Job(MaintenanceJob::VerifyChains)),
    ),
    (
        &["verify", "chains"],
        lex(verb(K::Maintenance), Tag::Job(MaintenanceJob::VerifyChains)),
    ),
    (
        &["past", "due"],
        lex(None, Tag::Selection(InvoiceSelection::Overdue)),
    ),
    (&["up", "to"], lex(None, Tag::Filler)),
    (&["at", "most"], lex(None, Tag::Filler)),
    (&["not", "exceeding"], lex(None, Tag::Filler)),
    (&["if", "needed"], lex(None, Tag::Conditional)),
    (&["if", "necessary"], lex(None, Tag::Conditional)),
    (&["if", "required"], lex(None, Tag::Conditional)),
    (&["if", "unhealthy"], lex(None, Tag::Conditional)),
    (&["if", "down"], lex(None, Tag::Conditional)),
    (&["do", "not"], lex(None, Tag::Negation)),
    (&["right", "away"], lex(None, Tag::Filler)),
    (&["right", "now"], lex(None, Tag::Filler)),
];

/// A known single word.
fn lexeme(word: &str) -> Option<Lexeme> {
    use Tag::*;
    let l = |trigger, tag| Some(lex(trigger, tag));
    match word {
        "restock" | "replenish" | "reorder" | "re-order" | "order" | "buy" | "purchase"
        | "procure" | "resupply" | "restocking" | "replenishment" => l(verb(K::Reorder), Filler),
        "po" | "pos" => l(noun(K::Reorder), Filler),
        "scan" | "count" | "recount" | "stocktake" | "stock-take" => {
            l(verb(K::InventoryScan), Filler)
        }
        "inventory" | "stock" | "stocks" | "on-hand" => l(noun(K::InventoryScan), Filler),
        "track" | "trace" => l(verb(K::ShipmentTracking), Filler),
        "shipment" | "shipments" | "shipping" | "delivery" | "deliveries" | "shipped" | "ship"
        | "carrier" | "carriers" | "transit" | "tracking" | "parcel" | "parcels" | "package"
        | "packages" | "eta" | "inbound" | "consignment" | "consignments" => {
            l(noun(K::ShipmentTracking), Filler)
        }
        "audit" | "reconcile" => l(verb(K::InvoiceAudit), Filler),
        "invoice" | "invoices" | "bill" | "bills" | "billing" | "audits" => {
            l(noun(K::InvoiceAudit), Filler)
        }
        "duplicate" | "duplicates" | "duplicated" | "double-billed" => {
            l(noun(K::InvoiceAudit), Check(AuditCheck::Duplicates))
        }
        "overcharge" | "overcharges" | "overcharged" | "overbilled" | "variance" | "variances" => {
            l(noun(K::InvoiceAudit), Check(AuditCheck::PriceVariance))
        }
        "three-way" | "3-way" => l(noun(K::InvoiceAudit), Check(AuditCheck::ThreeWayMatch)),
        "pay" | "settle" | "remit" | "paying" => l(verb(K::PaymentRun), Filler),
        "payment" | "payments" | "payables" | "payout" | "payouts" => {
            l(noun(K::PaymentRun), Filler)
        }
        "forecast" | "project" | "forecasting" => l(verb(K::CashFlowForecast), Filler),
        "cash" | "cashflow" | "cash-flow" | "runway" | "liquidity" | "burn" | "forecasts" => {
            l(noun(K::CashFlowForecast), Filler)
        }
        "diagnose" | "ping" => l(verb(K::HealthCheck), Filler),
        "health" | "healthy" | "uptime" | "health-check" | "healthcheck" => {
            l(noun(K::HealthCheck), Filler)
        }
        "restart" | "reboot" | "bounce" | "relaunch" | "reload" | "restarting" => {
            l(verb(K::Restart), Filler)
        }
        "maintain" => l(verb(K::Maintenance), Filler),
        "vacuum" => l(verb(K::Maintenance), Job(MaintenanceJob::VacuumDatabase)),
        "maintenance" | "housekeeping" | "upkeep" | "cleanup" | "clean-up" => {
            l(noun(K::Maintenance), Filler)
        }
        "logs" => l(noun(K::Maintenance), Job(MaintenanceJob::RotateLogs)),
        "deploy" | "release" | "upgrade" | "rollout" | "redeploy" => l(verb(K::Deploy), Filler),
        "deployment" | "deployments" => l(noun(K::Deploy), Filler),
        "fix" | "repair" | "troubleshoot" | "heal" => Some(Lexeme {
            trigger: Some(Trigger {
                intent: Intent::Fix,
                verb: true,
            }),
            tag: Filler,
        }),
        "check" | "review" | "run" | "do" | "perform" | "make" | "prepare" | "get" | "give"
        | "start" | "schedule" | "plan" | "look" | "inspect" | "verify" | "see" | "handle"
        | "process" | "execute" | "carry" | "send" | "create" | "draft" | "raise" | "place"
        | "update" | "show" | "tell" | "report" | "find" | "confirm" | "monitor" | "follow"
        | "analyse" | "analyze" | "assess" | "evaluate" | "compute" | "calculate" | "estimate"
        | "examine" | "go" | "kick" | "book" | "issue" | "ensure" | "arrange" => l(None, Generic),
        "gateway" | "api" | "http" => l(None, Component(self::Component::Gateway)),
        "relay" => l(None, Component(self::Component::Relay)),
        "orchestrator" | "brain" => l(None, Component(self::Component::Orchestrator)),
        "projections" | "projection" | "projector" => {
            l(None, Component(self::Component::Projections))
        }
        "database" | "db" | "postgres" | "postgresql" | "sqlite" | "eventstore" => {
            l(None, Component(self::Component::Database))
        }
        "bus" | "nats" | "jetstream" => l(None, Component(self::Component::Bus)),
        "dashboard" | "ui" | "frontend" => l(None, Component(self::Component::Dashboard)),
        "system" | "systems" | "everything" | "platform" | "agentos" | "services"
        | "components" | "server" | "servers" | "infrastructure" | "infra" | "stack" => {
            l(None, AllComponents)
        }
        "match" | "matching" => l(None, Check(AuditCheck::ThreeWayMatch)),
        "pricing" => l(None, Check(AuditCheck::PriceVariance)),
        "chains" | "integrity" => l(None, Job(MaintenanceJob::VerifyChains)),
        "approved" | "audited" | "checked" | "verified" | "cleared" | "clean" | "validated" => {
            l(None, Selection(InvoiceSelection::Approved))
        }
        "due" => l(None, Selection(InvoiceSelection::Due)),
        "overdue" | "late" => l(None, Selection(InvoiceSelection::Overdue)),
        "staging" | "stage" => l(None, Environment(self::Environment::Staging)),
        "production" | "prod" | "live" => l(None, Environment(self::Environment::Production)),
        "them" | "those" | "ones" | "it" | "results" | "findings" | "flagged" | "low" | "short"
        | "shortages" | "understocked" | "out-of-stock" | "whatever" | "anything" | "found"
        | "needed" | "necessary" => l(None, Backref),
        "unhealthy" | "down" | "failing" | "broken" | "stuck" | "crashed" => l(None, Conditional),
        "don't" | "dont" | "not" | "never" | "no" | "cancel" | "stop" | "halt" | "skip"
        | "avoid" | "without" | "except" | "excluding" | "unless" | "hold" | "postpone"
        | "pause" | "delay" | "nothing" | "won't" | "shouldn't" | "mustn't" => l(None, Negation),
        _ if FILLERS.contains(&word) => l(None, Filler),
        _ => None,
    }
}

/// Words that carry no instruction of their own.
const FILLERS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "for",
    "to",
    "all",
    "any",
    "every",
    "each",
    "our",
    "my",
    "your",
    "their",
    "its",
    "this",
    "that",
    "these",
    "please",
    "kindly",
    "also",
    "too",
    "just",
    "now",
    "asap",
    "immediately",
    "urgently",
    "urgent",
    "quickly",
    "again",
    "in",
    "on",
    "at",
    "with",
    "carrying",
    "containing",
    "by",
    "from",
    "into",
    "up",
    "out",
    "over",
    "per",
    "within",
    "under",
    "below",
    "above",
    "before",
    "until",
    "till",
    "as",
    "so",
    "is",
    "are",
    "be",
    "was",
    "were",
    "been",
    "we",
    "us",
    "i",
    "you",
    "can",
    "could",
    "would",
    "should",
    "will",
    "must",
    "need",
    "needs",
    "want",
    "wants",
    "sure",
    "let",
    "let's",
    "me",
    "know",
    "what",
    "which",
    "there",
    "have",
    "has",
    "some",
    "new",
    "current",
    "latest",
    "items",
    "item",
    "products",
    "product",
    "goods",
    "things",
    "level",
    "levels",
    "numbers",
    "number",
    "list",
    "status",
    "state",
    "quick",
    "full",
    "complete",
    "thorough",
    "weekly",
    "monthly",
    "daily",
    "regular",
    "routine",
    "usual",
    "standard",
    "if",
    "when",
    "running",
    "still",
    "already",
    "team",
    "department",
    "logistics",
    "finance",
    "foundry",
    "agent",
    "agents",
    "thanks",
    "thank",
    "ok",
    "okay",
    "hey",
    "hi",
    "version",
    "build",
    "environment",
    "env",
    "sku",
    "skus",
    "supplies",
    "supplier",
    "suppliers",
    "vendor",
    "vendors",
    "warehouse",
    "warehouses",
    "amount",
    "total",
    "max",
    "maximum",
    "cap",
    "capped",
    "limit",
    "budget",
    "spend",
    "spending",
    "cost",
    "costing",
    "worth",
    "value",
    "one",
    "more",
    "less",
    "than",
    "it's",
    "is",
    "across",
    "through",
    "during",
    "about",
    "on",
    "off",
    "via",
    "and",
    "or",
    "then",
    "how",
    "much",
    "many",
    "where",
    "who",
    "why",
    "based",
    "using",
    "next",
    "last",
    "this",
    "period",
    "open",
    "outstanding",
    "pending",
    "unpaid",
    "received",
    "supplier's",
    "everyone",
    "company",
    "company's",
    "bank",
    "account",
    "accounts",
    "money",
    "funds",
    "balance",
    "position",
    "report",
    "summary",
    "overview",
    "soon",
    "possible",
    "once",
    "done",
    "first",
    "after",
    "afterwards",
    "week",
    "month",
    "quarter",
    "year",
    "weeks",
    "months",
    "days",
    "day",
    "window",
    "tonight",
    "overnight",
    "time",
    "latest",
    "component",
    "service",
    "double",
    "check-up",
    "checkup",
    "units",
    "unit",
    "qty",
    "quantity",
    "whole",
    "entire",
    "lines",
    "line",
    "orders",
    "customer",
    "customers",
    "incoming",
    "outgoing",
    "reorders",
    "restocks",
    "costs",
    "what's",
    "how's",
    "where's",
    "we're",
    "i'm",
    "we've",
    "there's",
    "today's",
    "but",
];

const UNITS: &[&str] = &[
    "units", "unit", "pcs", "pc", "pieces", "piece", "items", "item", "each", "ea", "cases",
    "case", "boxes", "box", "pallets", "pallet", "packs", "pack", "cartons", "carton", "rolls",
    "bottles", "kg", "kilos", "tons", "tonnes", "litres", "liters", "meters", "metres", "sets",
];

const NUMBER_WORDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Reads a clause's words against the day the order was given.
pub(super) fn read(words: &[Word], today: NaiveDate) -> Reading {
    let mut reading = Reading::default();
    let mut quantities: Vec<(u32, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let used = step(words, i, today, &mut reading, &mut quantities);
        i += used.max(1);
    }
    attach_quantities(words, &mut reading, quantities);
    if reading.triggers.is_empty() && reading.generic_verb {
        if !reading.components.is_empty() || reading.all_components {
            reading.triggers.push(Trigger {
                intent: Intent::Kind(K::HealthCheck),
                verb: false,
            });
        } else if !reading.skus.is_empty() {
            reading.triggers.push(Trigger {
                intent: Intent::Kind(K::InventoryScan),
                verb: false,
            });
        }
    }
    reading
}

fn lower(words: &[Word], i: usize) -> &str {
    words.get(i).map_or("", |w| w.lower.as_str())
}

fn phrase_at(words: &[Word], i: usize) -> Option<(usize, Lexeme)> {
    PHRASES.iter().find_map(|(phrase, lexeme)| {
        let fits = phrase
            .iter()
            .enumerate()
            .all(|(k, part)| lower(words, i + k) == *part);
        fits.then_some((phrase.len(), *lexeme))
    })
}

fn step(
    words: &[Word],
    i: usize,
    today: NaiveDate,
    r: &mut Reading,
    quantities: &mut Vec<(u32, usize, usize)>,
) -> usize {
    if let Some((n, lexeme)) = phrase_at(words, i) {
        apply(lexeme, r);
        return n;
    }
    if let Some((n, when)) = when_at(words, i, today) {
        r.when.push(when);
        return n;
    }
    if let Some((n, money)) = money_at(words, i) {
        r.amounts.push(money);
        return n;
    }
    if let Some(reference) = reference_at(words, i) {
        match reference {
            Reference::Sku(sku) => r.skus.push(SkuMention {
                sku,
                quantity: None,
                at: i,
            }),
            Reference::PurchaseOrder(po) => r.purchase_orders.push(po),
            Reference::Invoice(inv) => r.invoices.push(inv),
            Reference::Tracking(t) => r.tracking.push(t),
        }
        return 1;
    }
    if let Some((n, q)) = quantity_at(words, i) {
        quantities.push((q, i, i + n));
        return n;
    }
    if let Some(version) = version_at(words, i) {
        r.version = Some(version);
        return 1;
    }
    if let Some((n, supplier)) = supplier_at(words, i, today) {
        r.supplier = Some(supplier);
        return n;
    }
    if let Some((n, warehouse)) = warehouse_at(words, i, today) {
        r.warehouse = Some(warehouse);
        return n;
    }
    let word = lower(words, i);
    if let Some(lexeme) = lexeme(word) {
        apply(lexeme, r);
        return 1;
    }
    if let Some(currency) = currency_word(word) {
        r.currency = Some(currency);
        return 1;
    }
    let text = words.get(i).map_or(String::new(), |w| w.text.clone());
    if text.chars().any(|c| c.is_ascii_digit()) {
        r.stray_numbers.push(text);
    } else if text.chars().any(char::is_alphanumeric) {
        r.unknown.push(text);
    }
    1
}

fn apply(lexeme: Lexeme, r: &mut Reading) {
    if let Some(trigger) = lexeme.trigger {
        r.triggers.push(trigger);
    }
    match lexeme.tag {
        Tag::Filler => {}
        Tag::Generic => r.generic_verb = true,
        Tag::Component(c) => {
            if !r.components.contains(&c) {
                r.components.push(c);
            }
        }
        Tag::AllComponents => r.all_components = true,
        Tag::Check(c) => {
            if !r.checks.contains(&c) {
                r.checks.push(c);
            }
        }
        Tag::Job(j) => {
            if !r.jobs.contains(&j) {
                r.jobs.push(j);
            }
        }
        Tag::Selection(s) => {
            r.backref |= s == InvoiceSelection::Approved;
            // "approved and overdue": the narrower selection wins.
            r.selection = Some(match (r.selection, s) {
                (Some(InvoiceSelection::Overdue), _) | (_, InvoiceSelection::Overdue) => {
                    InvoiceSelection::Overdue
                }
                (Some(InvoiceSelection::Due), _) | (_, InvoiceSelection::Due) => {
                    InvoiceSelection::Due
                }
                _ => InvoiceSelection::Approved,
            });
        }
        Tag::Environment(e) => r.environment = Some(e),
        Tag::Backref => r.backref = true,
        Tag::Conditional => {
            r.conditional = true;
            r.backref = true;
        }
        Tag::Negation => r.negated = true,
    }
}

/// Gives each quantity to the SKU it is written next to ("200 units of
/// SKU-1", "SKU-1 x50"); a lone quantity goes to a lone SKU.
fn attach_quantities(words: &[Word], r: &mut Reading, quantities: Vec<(u32, usize, usize)>) {
    let mut loose = Vec::new();
    for (q, start, end) in quantities {
        let after = if lower(words, end) == "of" {
            end + 1
        } else {
            end
        };
        let target = r
            .skus
            .iter()
            .position(|s| s.quantity.is_none() && s.at == after)
            .or_else(|| {
                r.skus
                    .iter()
                    .position(|s| s.quantity.is_none() && s.at + 1 == start)
            });
        match (target, NonZeroU32::new(q)) {
            (Some(k), Some(q)) => r.skus[k].quantity = Some(q),
            _ => loose.push(q),
        }
    }
    if let ([q], [only]) = (loose.as_slice(), r.skus.as_mut_slice()) {
        if only.quantity.is_none() {
            if let Some(q) = NonZeroU32::new(*q) {
                only.quantity = Some(q);
                loose.clear();
            }
        }
    }
    r.loose_quantities = loose;
}

// ---- numbers ----

fn integer(text: &str) -> Option<u64> {
    if text.is_empty() || text.starts_with(',') || text.ends_with(',') || text.contains(",,") {
        return None;
    }
    let digits: String = text.chars().filter(|&c| c != ',').collect();
    if digits.is_empty() || digits.len() > 15 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn count(text: &str) -> Option<u32> {
    if let Some(n) = NUMBER_WORDS.iter().position(|w| *w == text) {
        return u32::try_from(n).ok();
    }
    integer(text).and_then(|n| u32::try_from(n).ok())
}

/// An amount in minor units: "5,000", "1,200.50", "5k", "1.5m".
fn amount(text: &str, currency: Currency) -> Option<Money> {
    let decimals: u32 = if currency.as_str() == "JPY" { 0 } else { 2 };
    let (number, factor) = match text.chars().last()? {
        'k' | 'K' => (&text[..text.len() - 1], 1_000_i64),
        'm' | 'M' => (&text[..text.len() - 1], 1_000_000_i64),
        _ => (text, 1),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let whole = i64::try_from(integer(whole)?).ok()?;
    if !fraction.chars().all(|c| c.is_ascii_digit()) || fraction.len() > 6 {
        return None;
    }
    let scale = 10_i64.pow(decimals);
    // Fractions finer than the minor unit only survive a k/m factor.
    let fraction_value: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let fraction_scale = 10_i64.pow(u32::try_from(fraction.len()).ok()?);
    let minor_numerator = whole
        .checked_mul(fraction_scale)?
        .checked_add(fraction_value)?
        .checked_mul(scale)?
        .checked_mul(factor)?;
    if minor_numerator % fraction_scale != 0 {
        return None;
    }
    Some(Money::new(minor_numerator / fraction_scale, currency))
}

fn currency_word(word: &str) -> Option<Currency> {
    let code = match word {
        "eur" | "euro" | "euros" | "€" => "EUR",
        "usd" | "dollar" | "dollars" | "$" | "us$" | "bucks" => "USD",
        "gbp" | "pound" | "pounds" | "£" => "GBP",
        "chf" | "francs" => "CHF",
        "jpy" | "yen" | "¥" => "JPY",
        "cad" => "CAD",
        "aud" => "AUD",
        "sek" => "SEK",
        "nok" => "NOK",
        "dkk" => "DKK",
        "pln" => "PLN",
        _ => return None,
    };
    code.parse().ok()
}

fn money_at(words: &[Word], i: usize) -> Option<(usize, Money)> {
    let word = lower(words, i);
    // Symbol or code stuck to the number: "€5,000", "5000€", "usd300".
    for symbol in ["us$", "€", "$", "£", "¥", "eur", "usd", "gbp", "chf", "jpy"] {
        if let Some(rest) = word.strip_prefix(symbol) {
            if let (Some(c), false) = (currency_word(symbol), rest.is_empty()) {
                if let Some(m) = amount(rest, c) {
                    return Some((1, m));
                }
            }
        }
        if let Some(rest) = word.strip_suffix(symbol) {
            if let (Some(c), false) = (currency_word(symbol), rest.is_empty()) {
                if let Some(m) = amount(rest, c) {
                    return Some((1, m));
                }
            }
        }
    }
    // "EUR 5,000", "$ 300".
    if let Some(c) = currency_word(word) {
        if let Some(m) = amount(lower(words, i + 1), c) {
            return Some((2, m));
        }
    }
    // "5,000 EUR", "300 dollars".
    if let Some(c) = currency_word(lower(words, i + 1)) {
        if let Some(m) = amount(word, c) {
            return Some((2, m));
        }
    }
    None
}

fn quantity_at(words: &[Word], i: usize) -> Option<(usize, u32)> {
    let word = lower(words, i);
    for prefix in ["x", "×"] {
        if let Some(n) = word.strip_prefix(prefix).and_then(integer) {
            return Some((1, u32::try_from(n).ok()?));
        }
    }
    for suffix in ["x", "×"] {
        if let Some(n) = word.strip_suffix(suffix).and_then(integer) {
            return Some((1, u32::try_from(n).ok()?));
        }
    }
    if matches!(word, "x" | "×" | "qty" | "quantity") {
        if let Some(n) = integer(lower(words, i + 1)) {
            return Some((2, u32::try_from(n).ok()?));
        }
    }
    let n = count(word)?;
    if UNITS.contains(&lower(words, i + 1)) {
        return Some((2, n));
    }
    // A bare number written right next to a SKU: "restock 50 SKU-1".
    let sku_at = |j: usize| matches!(reference_at(words, j), Some(Reference::Sku(_)));
    if integer(word).is_some() && (sku_at(i + 1) || i.checked_sub(1).is_some_and(sku_at)) {
        return Some((1, n));
    }
    None
}

// ---- references ----

enum Reference {
    Sku(Sku),
    PurchaseOrder(Label),
    Invoice(Label),
    Tracking(Label),
}

fn label(text: &str) -> Option<Label> {
    text.parse().ok()
}

fn has_digit(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit())
}

fn is_code(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn reference_at(words: &[Word], i: usize) -> Option<Reference> {
    let word = words.get(i)?;
    let upper = word.text.to_ascii_uppercase();
    let previous = i.checked_sub(1).map_or("", |j| lower(words, j));
    // ERPNext's names for purchase orders ("PUR-ORD-2026-00017"), kept as
    // the ERP spells them so they can be looked up there.
    if let Some(rest) = upper.strip_prefix("PUR-ORD-") {
        if has_digit(rest) && is_code(rest) {
            return label(&upper).map(Reference::PurchaseOrder);
        }
    }
    for (prefix, make) in [
        ("PO", Reference::PurchaseOrder as fn(Label) -> Reference),
        ("INV", Reference::Invoice),
        ("TRK", Reference::Tracking),
    ] {
        if let Some(rest) = upper.strip_prefix(prefix) {
            let rest = rest.trim_start_matches(['-', '#', '_']);
            if !rest.is_empty() && is_code(rest) && has_digit(rest) && rest.len() < upper.len() {
                return label(&format!("{prefix}-{rest}")).map(make);
            }
        }
    }
    let digits = upper.trim_start_matches('#');
    if has_digit(digits) && is_code(digits) {
        match previous {
            "po" => return label(&format!("PO-{digits}")).map(Reference::PurchaseOrder),
            "invoice" | "invoices" | "bill" => {
                return label(&format!("INV-{digits}")).map(Reference::Invoice)
            }
            "tracking" | "shipment" | "parcel" | "package" => {
                return label(digits).map(Reference::Tracking)
            }
            "sku" | "skus" | "item" | "product" => {
                return format!("SKU-{digits}").parse().ok().map(Reference::Sku)
            }
            _ => {}
        }
    }
    // Carriers' numbers: long codes with many digits ("1Z999AA10123456784").
    let digit_count = upper.chars().filter(char::is_ascii_digit).count();
    if upper.len() >= 10
        && upper.chars().all(|c| c.is_ascii_alphanumeric())
        && digit_count >= 6
        && (digit_count >= 12 || digit_count < upper.len())
    {
        return label(&upper).map(Reference::Tracking);
    }
    // SKUs: letters, a dash, and a code with a digit ("SKU-1042", "ABC-123"),
    // or without a digit when written in capitals as catalogues spell them
    // ("BOX-M", "CABLE-USB"; "follow-up" stays a word).
    let (prefix, rest) = upper.split_once(['-', '_'])?;
    let capitals = !word.text.chars().any(|c| c.is_ascii_lowercase()) && prefix.len() >= 2;
    let sku_like = (1..=10).contains(&prefix.len())
        && prefix.chars().all(|c| c.is_ascii_alphabetic())
        && (has_digit(rest) || capitals)
        && is_code(rest);
    if sku_like {
        return upper.parse().ok().map(Reference::Sku);
    }
    None
}

fn version_at(words: &[Word], i: usize) -> Option<Label> {
    let word = words.get(i)?;
    let text = word.text.as_str();
    let core = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let main = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = main.split('.').collect();
    let dotted = parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let previous = i.checked_sub(1).map_or("", |j| lower(words, j));
    let named = matches!(previous, "version" | "release" | "build" | "tag")
        && has_digit(text)
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'));
    (dotted || named).then(|| label(text)).flatten()
}

// ---- names ----

/// Whether word `j` can be part of a name: not vocabulary, not a date, an
/// amount or a reference.
fn is_name(words: &[Word], j: usize, today: NaiveDate) -> bool {
    let Some(word) = words.get(j) else {
        return false;
    };
    let l = word.lower.as_str();
    word.text.chars().any(char::is_alphanumeric)
        && lexeme(l).is_none()
        && phrase_at(words, j).is_none()
        && currency_word(l).is_none()
        && !UNITS.contains(&l)
        && !MONTHS.contains(&l)
        && when_at(words, j, today).is_none()
        && money_at(words, j).is_none()
        && reference_at(words, j).is_none()
        && version_at(words, j).is_none()
        && count(l).is_none()
}

fn name_from(words: &[Word], start: usize, max: usize, today: NaiveDate) -> Option<(usize, Label)> {
    let mut end = start;
    while end < words.len() && end - start < max && is_name(words, end, today) {
        end += 1;
    }
    let text: Vec<&str> = words[start..end].iter().map(|w| w.text.as_str()).collect();
    label(&text.join(" ")).map(|l| (end - start, l))
}

fn supplier_at(words: &[Word], i: usize, today: NaiveDate) -> Option<(usize, Label)> {
    match lower(words, i) {
        "from" | "supplier" | "vendor" | "suppliers" | "vendors" => {}
        // "pay 300 USD to Acme Corp": a payee only when written as a name.
        "to" if words
            .get(i + 1)
            .is_some_and(|w| w.text.starts_with(|c: char| c.is_uppercase())) => {}
        _ => return None,
    }
    let (n, name) = name_from(words, i + 1, 5, today)?;
    Some((n + 1, name))
}

fn warehouse_at(words: &[Word], i: usize, today: NaiveDate) -> Option<(usize, Label)> {
    match lower(words, i) {
        "warehouse" | "depot" => {
            let (n, name) = name_from(words, i + 1, 3, today)?;
            Some((n + 1, name))
        }
        "in" | "at" | "to" | "for" => {
            let (n, name) = name_from(words, i + 1, 3, today)?;
            matches!(lower(words, i + 1 + n), "warehouse" | "depot").then_some((n + 2, name))
        }
        _ => None,
    }
}

// ---- dates ----

fn month_start(date: NaiveDate) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
}

fn month_span(first: NaiveDate) -> Option<Period> {
    let next = first.checked_add_months(Months::new(1))?;
    Period::new(first, next.pred_opt()?).ok()
}

fn quarter_span(year: i32, quarter: u32) -> Option<Period> {
    let first = NaiveDate::from_ymd_opt(year, quarter * 3 - 2, 1)?;
    let next = first.checked_add_months(Months::new(3))?;
    Period::new(first, next.pred_opt()?).ok()
}

fn year_span(year: i32) -> Option<Period> {
    Period::new(
        NaiveDate::from_ymd_opt(year, 1, 1)?,
        NaiveDate::from_ymd_opt(year, 12, 31)?,
    )
    .ok()
}

fn week_span(day: NaiveDate) -> Option<Period> {
    let monday =
        day.checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))?;
    Period::new(monday, monday.checked_add_days(Days::new(6))?).ok()
}

fn shift_months(date: NaiveDate, months: i64) -> Option<NaiveDate> {
    let n = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months < 0 {
        date.checked_sub_months(n)
    } else {
        date.checked_add_months(n)
    }
}

/// The period `unit` ("week", "month", "quarter", "year") `offset` units
/// away from today's.
fn relative_span(unit: &str, offset: i64, today: NaiveDate) -> Option<Period> {
    match unit {
        "week" => {
            let day = today.checked_add_signed(chrono::Duration::weeks(offset))?;
            week_span(day)
        }
        "month" => month_span(shift_months(month_start(today)?, offset)?),
        "quarter" => {
            let first = NaiveDate::from_ymd_opt(today.year(), (today.month() - 1) / 3 * 3 + 1, 1)?;
            let first = shift_months(first, offset * 3)?;
            quarter_span(first.year(), (first.month() - 1) / 3 + 1)
        }
        "year" => year_span(today.year().checked_add(i32::try_from(offset).ok()?)?),
        _ => None,
    }
}

fn year(text: &str) -> Option<i32> {
    let y: i32 = text.parse().ok()?;
    (text.len() == 4 && (1900..=2200).contains(&y)).then_some(y)
}

fn day_of_month(text: &str) -> Option<u32> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| text.strip_suffix(s))
        .unwrap_or(text);
    let d: u32 = digits.parse().ok()?;
    (digits.len() <= 2 && (1..=31).contains(&d)).then_some(d)
}

fn month(text: &str) -> Option<u32> {
    let index = MONTHS.iter().position(|m| {
        *m == text
            || (text.len() == 3 && m.starts_with(text))
            || (text == "sept" && *m == "september")
    })?;
    u32::try_from(index + 1).ok()
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// A single day at `i`: "2026-12-15", "Dec 15 2026", "15th of December",
/// "friday", "tomorrow", "end of month".
fn day_at(words: &[Word], i: usize, today: NaiveDate) -> Option<(usize, NaiveDate)> {
    let w = lower(words, i);
    if let Ok(d) = NaiveDate::parse_from_str(w, "%Y-%m-%d") {
        return Some((1, d));
    }
    match w {
        "today" | "tonight" => return Some((1, today)),
        "tomorrow" => return Some((1, today.succ_opt()?)),
        "yesterday" => return Some((1, today.pred_opt()?)),
        "eom" | "month-end" => return Some((1, month_span(month_start(today)?)?.to)),
        _ => {}
    }
    if let Some(target) = weekday(w) {
        let ahead =
            (7 + target.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
        return Some((1, today.checked_add_days(Days::new(u64::from(ahead)))?));
    }
    if w == "end" && lower(words, i + 1) == "of" {
        let (skip, unit) = if lower(words, i + 2) == "the" {
            (4, lower(words, i + 3))
        } else {
            (3, lower(words, i + 2))
        };
        if let Some(p) = relative_span(unit, 0, today) {
            return Some((skip, p.to));
        }
    }
    // "December 15 2026", "Dec 15th".
    if let Some(m) = month(w) {
        if let Some(d) = day_of_month(lower(words, i + 1)) {
            let (n, y) = match year(lower(words, i + 2)) {
                Some(y) => (3, y),
                None => (2, today.year()),
            };
            return Some((n, NaiveDate::from_ymd_opt(y, m, d)?));
        }
    }
    // "15 December 2026", "15th of Dec".
    if let Some(d) = day_of_month(w) {
        let skip_of = usize::from(lower(words, i + 1) == "of");
        if let Some(m) = month(lower(words, i + 1 + skip_of)) {
            let (n, y) = match year(lower(words, i + 2 + skip_of)) {
                Some(y) => (3 + skip_of, y),
                None => (2 + skip_of, today.year()),
            };
            return Some((n, NaiveDate::from_ymd_opt(y, m, d)?));
        }
    }
    None
}

/// A time at `i`, with how many words it takes.
pub(super) fn when_at(words: &[Word], i: usize, today: NaiveDate) -> Option<(usize, When)> {
    let w = lower(words, i);
    let w1 = lower(words, i + 1);
    let w2 = lower(words, i + 2);
    let singular = |unit: &str| unit.strip_suffix('s').unwrap_or(unit).to_owned();
    let previous = i.checked_sub(1).map_or("", |j| lower(words, j));

    // "this month", "last quarter", "next week", "this friday".
    let offset = match w {
        "this" | "current" => Some(0),
        "last" | "previous" | "past" | "prior" => Some(-1),
        "next" | "coming" | "upcoming" | "following" => Some(1),
        _ => None,
    };
    if let Some(offset) = offset {
        if let Some(p) = relative_span(w1, offset, today) {
            return Some((2, When::Span(p)));
        }
        if weekday(w1).is_some() && offset >= 0 {
            let (_, d) = day_at(words, i + 1, today)?;
            let d = if d == today && offset > 0 {
                d.checked_add_days(Days::new(7))?
            } else {
                d
            };
            return Some((2, When::Day(d)));
        }
        // "next 13 weeks", "past 30 days".
        if let (Some(n), unit) = (count(w1), singular(w2)) {
            let n64 = i64::from(n);
            if n > 0 && matches!(unit.as_str(), "day" | "week" | "month") {
                if offset >= 0 && unit == "week" {
                    return Some((3, When::Weeks(n)));
                }
                let end = match unit.as_str() {
                    "day" => {
                        today.checked_add_signed(chrono::Duration::days(n64 * offset.signum()))
                    }
                    "week" => {
                        today.checked_add_signed(chrono::Duration::weeks(n64 * offset.signum()))
                    }
                    _ => shift_months(today, n64 * offset.signum()),
                }?;
                let span = if offset < 0 {
                    Period::new(end, today)
                } else {
                    Period::new(today, end.pred_opt()?)
                };
                return span.ok().map(|p| (3, When::Span(p)));
            }
        }
    }
    // "13 weeks", "13-week".
    if let Some(n) = w
        .strip_suffix("-week")
        .or_else(|| w.strip_suffix("-weeks"))
        .and_then(count)
    {
        return (n > 0).then_some((1, When::Weeks(n)));
    }
    if let (Some(n), "week" | "weeks") = (count(w), w1) {
        return (n > 0).then_some((2, When::Weeks(n)));
    }
    // "Q3", "Q3 2026".
    if let Some(q) = w.strip_prefix('q').and_then(|q| q.parse::<u32>().ok()) {
        if (1..=4).contains(&q) && w.len() == 2 {
            let (n, y) = match year(w1) {
                Some(y) => (2, y),
                None => (1, today.year()),
            };
            return quarter_span(y, q).map(|p| (n, When::Span(p)));
        }
    }
    match (w, w1, w2) {
        ("ytd", _, _) => {
            return Period::new(NaiveDate::from_ymd_opt(today.year(), 1, 1)?, today)
                .ok()
                .map(|p| (1, When::Span(p)))
        }
        ("year", "to", "date") => {
            return Period::new(NaiveDate::from_ymd_opt(today.year(), 1, 1)?, today)
                .ok()
                .map(|p| (3, When::Span(p)))
        }
        ("mtd", _, _) => {
            return Period::new(month_start(today)?, today)
                .ok()
                .map(|p| (1, When::Span(p)))
        }
        _ => {}
    }
    if let Some((n, day)) = day_at(words, i, today) {
        // "2026-06-01 to 2026-06-30", "between June 1 and June 30".
        if matches!(
            lower(words, i + n),
            "to" | "until" | "till" | "through" | "thru" | "and" | "-"
        ) {
            if let Some((m, end)) = day_at(words, i + n + 1, today) {
                if let Ok(p) = Period::new(day, end) {
                    return Some((n + 1 + m, When::Span(p)));
                }
            }
        }
        return Some((
            n,
            match previous {
                "by" | "before" | "until" | "till" | "due" | "latest" => When::Deadline(day),
                "since" => When::Span(Period::new(day, today).ok()?),
                _ => When::Day(day),
            },
        ));
    }
    // "March", "March 2026"; "may" only when it is clearly the month.
    if let Some(m) = month(w) {
        let y = year(w1);
        let month_context = matches!(
            previous,
            "in" | "for" | "of" | "during" | "since" | "until" | "from"
        );
        if w.len() > 3 || w == "may" {
            if w == "may" && y.is_none() && !month_context {
                return None;
            }
            let first = NaiveDate::from_ymd_opt(y.unwrap_or(today.year()), m, 1)?;
            return month_span(first).map(|p| (if y.is_some() { 2 } else { 1 }, When::Span(p)));
        }
    }
    None
}
