//! The rule-based planner, the default: it reads an order in the
//! departments' vocabulary, deterministically and without I/O.
//!
//! The order is cut into clauses (at `,` `;` `.` `and` `then` `after that`);
//! each clause names one piece of work (its first verb, such as "pay", or
//! else its first noun, such as "payments") and the things it applies to
//! (SKUs, quantities, amounts, suppliers, dates and periods read against
//! the day the order was given). A clause joined by "then" waits for the
//! one before; a clause joined by "and" waits for an earlier one when it
//! consumes that one's result ("audit the invoices and pay the approved
//! ones", "scan stock and reorder what is low").
//!
//! It never guesses: a clause it cannot read, a word it does not know in an
//! instruction that changes something, a negation, or a thing named that
//! the work cannot use, all become a question for the CEO instead of a plan.

mod read;
#[cfg(test)]
mod tests;
mod text;

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use async_trait::async_trait;
use chrono::{Days, NaiveDate};
use domain::plan::{Plan, PlannedTask};
use domain::planning::{PlanOutcome, PlannerAnswer};
use domain::work::{
    CashFlowForecast, Component, Deploy, HealthCheck, Horizon, InventoryScan, InvoiceAudit,
    Maintenance, ParcelLine, PaymentRun, Period, Reorder, ReorderLine, Restart, ShipmentTracking,
    TaskKind, Weeks, Work,
};
use sha2::{Digest, Sha256};

use self::read::{read, Intent, Reading, Trigger, When};
use self::text::{quote, segments, Joint, Word};
use super::{PlanRequest, Planner, PlannerError};

/// The name the rule-based planner records with its answers.
pub const RULES: &str = "rules";

/// What the planner can do, as it tells the CEO when it asks.
pub const CAPABILITIES: &str = "I can count stock (inventory scan), draft purchase orders \
(reorder SKUs, optionally from a supplier), track shipments, audit invoices, pay approved \
invoices, forecast cash flow, and check, fix, restart, maintain or deploy AgentOS's components.";

/// The rule-based planner.
#[derive(Debug, Clone, Copy, Default)]
pub struct RulePlanner;

impl RulePlanner {
    /// A rule-based planner.
    pub const fn new() -> Self {
        RulePlanner
    }

    /// Plans a directive (synchronously: no I/O).
    pub fn answer(&self, request: &PlanRequest) -> PlannerAnswer {
        let input = match &request.clarification {
            Some(clarification) => format!("{} {}", request.text, clarification),
            None => request.text.clone(),
        };
        let outcome = plan_text(&input, request.issued_at.date_naive());
        PlannerAnswer {
            raw_answer: raw_answer(&outcome),
            outcome,
            planner: RULES.to_owned(),
            model: None,
            prompt_digest: sha256_hex(input.as_bytes()),
            usage: None,
        }
    }
}

#[async_trait]
impl Planner for RulePlanner {
    fn name(&self) -> &str {
        RULES
    }

    async fn plan(&self, request: &PlanRequest) -> Result<PlannerAnswer, PlannerError> {
        Ok(self.answer(request))
    }
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The answer as JSON text, in the shape a model is asked for:
/// `{"tasks": […]}` or `{"question": "…"}`.
fn raw_answer(outcome: &PlanOutcome) -> String {
    let value = match outcome {
        PlanOutcome::Plan { plan } => serde_json::json!({ "tasks": plan.tasks }),
        PlanOutcome::Clarify { question } => serde_json::json!({ "question": question }),
    };
    value.to_string()
}

/// Plans an order given on `today`: the pure core of [`RulePlanner`].
pub fn plan_text(text: &str, today: NaiveDate) -> PlanOutcome {
    match plan_or_question(text, today) {
        Ok(plan) => PlanOutcome::Plan { plan },
        Err(question) => PlanOutcome::Clarify { question },
    }
}

/// A clause: its joint to the one before, its words and what they say.
struct Clause {
    joint: Joint,
    words: Vec<Word>,
    reading: Reading,
}

impl Clause {
    fn primary(&self) -> Option<Trigger> {
        primary(&self.reading)
    }
}

/// The clause's instruction: its first verb, or else its first noun.
fn primary(reading: &Reading) -> Option<Trigger> {
    reading
        .triggers
        .iter()
        .find(|t| t.verb)
        .or_else(|| reading.triggers.first())
        .copied()
}

fn plan_or_question(text: &str, today: NaiveDate) -> Result<Plan, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "The order is empty. {CAPABILITIES} What should I do?"
        ));
    }
    let clauses = clauses(text, today)?;
    let mut tasks: Vec<(Work, Vec<usize>)> = Vec::new();
    // Each clause's tasks, as indices into `tasks`.
    let mut by_clause: Vec<Vec<usize>> = Vec::new();
    for (c, clause) in clauses.iter().enumerate() {
        let drafts = drafts(clause, text, today)?;
        let waits_for = match clause.joint {
            Joint::Then => c
                .checked_sub(1)
                .map(|p| sinks(&by_clause[p], &tasks))
                .unwrap_or_default(),
            Joint::And | Joint::Start => producer(&clauses, &by_clause, &tasks, c, &drafts),
        };
        let base = tasks.len();
        let mut mine = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let mut deps: Vec<usize> = draft.after.iter().map(|d| base + d).collect();
            if draft.after.is_empty() {
                deps.extend(&waits_for);
            }
            mine.push(tasks.len());
            tasks.push((draft.work, deps));
        }
        by_clause.push(mine);
    }
    let keys = keys(&tasks);
    let plan = Plan {
        tasks: tasks
            .iter()
            .zip(&keys)
            .map(|((work, deps), key)| PlannedTask {
                key: key.clone(),
                department: work.kind().department(),
                kind: work.kind().as_str().to_owned(),
                params: work.params(),
                depends_on: deps.iter().map(|&d| keys[d].clone()).collect(),
            })
            .collect(),
    };
    Ok(plan)
}

/// Keys named after the kind: `invoice_audit`, `restart`, `restart_2`.
fn keys(tasks: &[(Work, Vec<usize>)]) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    tasks
        .iter()
        .map(|(work, _)| {
            let kind = work.kind().as_str();
            let n = seen.entry(kind).or_insert(0);
            *n += 1;
            if *n == 1 {
                kind.to_owned()
            } else {
                format!("{kind}_{n}")
            }
        })
        .collect()
}

/// The tasks of a clause that no other task of it waits for.
fn sinks(clause: &[usize], tasks: &[(Work, Vec<usize>)]) -> Vec<usize> {
    clause
        .iter()
        .copied()
        .filter(|t| !clause.iter().any(|o| tasks[*o].1.contains(t)))
        .collect()
}

/// The kinds whose result a kind consumes.
fn producers(kind: TaskKind) -> &'static [TaskKind] {
    match kind {
        TaskKind::Reorder => &[TaskKind::InventoryScan],
        TaskKind::PaymentRun => &[TaskKind::InvoiceAudit],
        TaskKind::Restart => &[TaskKind::HealthCheck],
        TaskKind::ShipmentTracking => &[TaskKind::Reorder],
        _ => &[],
    }
}

/// Whether the work names its own subject, rather than taking an earlier
/// task's result.
fn names_own_subject(work: &Work) -> bool {
    match work {
        Work::Reorder(r) => !r.items.is_empty(),
        Work::PaymentRun(p) => !p.invoices.is_empty(),
        Work::ShipmentTracking(s) => {
            !s.tracking_numbers.is_empty() || !s.purchase_orders.is_empty()
        }
        _ => true,
    }
}

/// For a clause joined by "and": the tasks of the nearest earlier clause
/// whose result it consumes.
fn producer(
    clauses: &[Clause],
    by_clause: &[Vec<usize>],
    tasks: &[(Work, Vec<usize>)],
    c: usize,
    drafts: &[Draft],
) -> Vec<usize> {
    let Some(root) = drafts.iter().find(|d| d.after.is_empty()) else {
        return Vec::new();
    };
    let wanted = producers(root.work.kind());
    let consumes = clauses[c].reading.backref || !names_own_subject(&root.work);
    if wanted.is_empty() || !consumes {
        return Vec::new();
    }
    (0..c)
        .rev()
        .map(|p| {
            sinks(&by_clause[p], tasks)
                .into_iter()
                .filter(|&t| wanted.contains(&tasks[t].0.kind()))
                .collect::<Vec<_>>()
        })
        .find(|found| !found.is_empty())
        .unwrap_or_default()
}

/// Cuts the order into clauses, each with one instruction; words without an
/// instruction ("SKU-2 and SKU-3", "between June 1 and June 30") join the
/// clause before them.
fn clauses(text: &str, today: NaiveDate) -> Result<Vec<Clause>, String> {
    let mut clauses: Vec<Clause> = Vec::new();
    let mut lead: Vec<Word> = Vec::new();
    for segment in segments(text) {
        if segment.words.is_empty() {
            return Err(format!(
                "\"{text}\" ends with \"{}\": what should happen after that?",
                segment
                    .joiners
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        let (joint, words) = if lead.is_empty() {
            (segment.joint, segment.words.clone())
        } else {
            let mut words = std::mem::take(&mut lead);
            words.extend(segment.joiners.iter().cloned());
            words.extend(segment.words.iter().cloned());
            (Joint::Start, words)
        };
        let reading = read(&words, today);
        let trigger = primary(&reading);
        let continues = reading.unknown.is_empty() && !reading.negated;
        let previous = clauses.last_mut();
        match (trigger, previous) {
            (Some(t), Some(prev)) if !t.verb && joint == Joint::And => {
                match prev.primary() {
                    // "check inventory and invoices": the verb is shared.
                    Some(p) if !p.verb => clauses.push(Clause {
                        joint,
                        words,
                        reading,
                    }),
                    // "audit invoices and bills".
                    Some(p) if p.intent == t.intent => {
                        prev.words.extend(segment.joiners.iter().cloned());
                        prev.words.extend(segment.words.iter().cloned());
                        prev.reading = read(&prev.words, today);
                    }
                    _ => return Err(unclear(text, &segment.words)),
                }
            }
            (Some(_), _) => clauses.push(Clause {
                joint,
                words,
                reading,
            }),
            (None, Some(prev)) if continues && joint != Joint::Then => {
                prev.words.extend(segment.joiners.iter().cloned());
                prev.words.extend(segment.words.iter().cloned());
                prev.reading = read(&prev.words, today);
            }
            (None, None) if continues => lead = words,
            (None, _) => return Err(unclear(text, &segment.words)),
        }
    }
    if clauses.is_empty() {
        return Err(format!(
            "I could not find an instruction in \"{text}\". {CAPABILITIES} What should I do?"
        ));
    }
    Ok(clauses)
}

fn unclear(text: &str, words: &[Word]) -> String {
    format!(
        "I did not understand \"{}\". {CAPABILITIES} What should I do about it?",
        quote(text, words)
    )
}

/// A task of one clause, with the indices (within the clause) of the tasks
/// it waits for.
struct Draft {
    work: Work,
    after: Vec<usize>,
}

fn single(work: Work) -> Vec<Draft> {
    vec![Draft {
        work,
        after: Vec::new(),
    }]
}

fn component_names() -> String {
    Component::ALL
        .iter()
        .map(|c| c.as_str().replace('_', " "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a kind takes from a clause; everything else named is a question.
#[derive(Default)]
struct Uses {
    skus: bool,
    quantities: bool,
    amounts: bool,
    currency: bool,
    supplier: bool,
    warehouse: bool,
    purchase_orders: bool,
    invoices: bool,
    tracking: bool,
    version: bool,
    environment: bool,
    components: bool,
    checks: bool,
    jobs: bool,
    /// How many times it takes (immediate work takes none but "now").
    times: usize,
}

fn uses(intent: Intent) -> Uses {
    let none = Uses::default();
    match intent {
        Intent::Kind(TaskKind::InventoryScan) => Uses {
            skus: true,
            warehouse: true,
            ..none
        },
        Intent::Kind(TaskKind::Reorder) => Uses {
            skus: true,
            quantities: true,
            amounts: true,
            supplier: true,
            warehouse: true,
            times: 1,
            ..none
        },
        Intent::Kind(TaskKind::ShipmentTracking) => Uses {
            skus: true,
            quantities: true,
            supplier: true,
            purchase_orders: true,
            tracking: true,
            times: 1,
            ..none
        },
        Intent::Kind(TaskKind::InvoiceAudit) => Uses {
            supplier: true,
            invoices: true,
            checks: true,
            times: 1,
            ..none
        },
        Intent::Kind(TaskKind::PaymentRun) => Uses {
            amounts: true,
            supplier: true,
            invoices: true,
            times: 1,
            ..none
        },
        Intent::Kind(TaskKind::CashFlowForecast) => Uses {
            currency: true,
            times: 1,
            ..none
        },
        Intent::Kind(TaskKind::HealthCheck | TaskKind::Restart) | Intent::Fix => Uses {
            components: true,
            ..none
        },
        Intent::Kind(TaskKind::Maintenance) => Uses {
            components: true,
            jobs: true,
            times: 1,
            ..none
        },
        Intent::Kind(TaskKind::Deploy) => Uses {
            version: true,
            environment: true,
            components: true,
            times: 1,
            ..none
        },
    }
}

/// Whether a time means "now" (immediate work accepts only that).
fn is_now(when: When, today: NaiveDate) -> bool {
    match when {
        When::Day(d) | When::Deadline(d) => d == today,
        When::Span(p) => p.from <= today && today <= p.to,
        When::Weeks(_) => false,
    }
}

fn describe_when(when: When) -> String {
    match when {
        When::Day(d) => format!("the date {d}"),
        When::Deadline(d) => format!("the deadline {d}"),
        When::Span(p) => format!("the period {} to {}", p.from, p.to),
        When::Weeks(n) => format!("{n} weeks"),
    }
}

/// The things a clause names that its work cannot use.
fn leftovers(r: &Reading, uses: &Uses, today: NaiveDate) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |used: bool, present: bool, what: String| {
        if !used && present {
            out.push(what);
        }
    };
    let list = |items: Vec<String>| items.join(", ");
    note(
        uses.skus,
        !r.skus.is_empty(),
        list(r.skus.iter().map(|s| s.sku.to_string()).collect()),
    );
    note(
        uses.quantities,
        r.skus.iter().any(|s| s.quantity.is_some()),
        "the quantities".to_owned(),
    );
    note(
        uses.quantities,
        !r.loose_quantities.is_empty(),
        list(
            r.loose_quantities
                .iter()
                .map(|q| format!("{q} units"))
                .collect(),
        ),
    );
    note(
        uses.amounts,
        !r.amounts.is_empty(),
        list(r.amounts.iter().map(ToString::to_string).collect()),
    );
    note(
        uses.currency || uses.amounts,
        r.currency.is_some(),
        r.currency.map(|c| c.to_string()).unwrap_or_default(),
    );
    note(
        uses.supplier,
        r.supplier.is_some(),
        r.supplier
            .as_ref()
            .map(|s| format!("the supplier {s}"))
            .unwrap_or_default(),
    );
    note(
        uses.warehouse,
        r.warehouse.is_some(),
        r.warehouse
            .as_ref()
            .map(|s| format!("the warehouse {s}"))
            .unwrap_or_default(),
    );
    note(
        uses.purchase_orders,
        !r.purchase_orders.is_empty(),
        list(r.purchase_orders.iter().map(ToString::to_string).collect()),
    );
    note(
        uses.invoices,
        !r.invoices.is_empty(),
        list(r.invoices.iter().map(ToString::to_string).collect()),
    );
    note(
        uses.tracking,
        !r.tracking.is_empty(),
        list(r.tracking.iter().map(ToString::to_string).collect()),
    );
    note(
        uses.version,
        r.version.is_some(),
        r.version
            .as_ref()
            .map(|v| format!("the version {v}"))
            .unwrap_or_default(),
    );
    note(
        uses.environment,
        r.environment.is_some(),
        r.environment
            .map(|e| format!("{e:?}").to_lowercase())
            .unwrap_or_default(),
    );
    note(
        uses.components,
        !r.components.is_empty(),
        list(
            r.components
                .iter()
                .map(|c| c.as_str().replace('_', " "))
                .collect(),
        ),
    );
    note(
        uses.checks,
        !r.checks.is_empty(),
        "the audit checks".to_owned(),
    );
    note(
        uses.jobs,
        !r.jobs.is_empty(),
        "the maintenance jobs".to_owned(),
    );
    let times: Vec<&When> = if uses.times == 0 {
        r.when.iter().filter(|w| !is_now(**w, today)).collect()
    } else {
        r.when.iter().skip(uses.times).collect()
    };
    for when in times {
        out.push(describe_when(*when));
    }
    for number in &r.stray_numbers {
        out.push(format!("\"{number}\""));
    }
    out
}

fn first_day(r: &Reading, today: NaiveDate) -> Option<NaiveDate> {
    r.when.first().and_then(|w| match *w {
        When::Day(d) | When::Deadline(d) => Some(d),
        When::Span(p) => Some(p.to),
        When::Weeks(n) => today.checked_add_days(Days::new(u64::from(n) * 7)),
    })
}

fn first_span(r: &Reading, today: NaiveDate) -> Option<Period> {
    r.when.first().and_then(|w| match *w {
        When::Span(p) => Some(p),
        When::Day(d) => Period::new(d, d).ok(),
        When::Deadline(d) => Period::new(today, d).or_else(|_| Period::new(d, d)).ok(),
        When::Weeks(n) => {
            let end = today
                .checked_add_days(Days::new(u64::from(n) * 7))?
                .pred_opt()?;
            Period::new(today, end).ok()
        }
    })
}

fn intent_name(intent: Intent) -> String {
    match intent {
        Intent::Kind(kind) => kind.as_str().replace('_', " "),
        Intent::Fix => "a fix (check, then restart if unhealthy)".to_owned(),
    }
}

/// The tasks one clause asks for, or the question it raises.
fn drafts(clause: &Clause, text: &str, today: NaiveDate) -> Result<Vec<Draft>, String> {
    let q = quote(text, &clause.words);
    let r = &clause.reading;
    let Some(trigger) = clause.primary() else {
        return Err(unclear(text, &clause.words));
    };
    let intent = trigger.intent;
    if r.negated {
        return Err(format!(
            "\"{q}\" says what not to do, and I only plan what to do. What should I do instead?"
        ));
    }
    let changes = match intent {
        Intent::Kind(kind) => kind.changes_something(),
        Intent::Fix => true,
    };
    if changes && !r.unknown.is_empty() {
        return Err(format!(
            "I read \"{q}\" as {} but did not understand \"{}\", and I do not guess on work \
             that changes something. Could you say it with SKUs, a supplier, an amount, a date \
             or a component?",
            intent_name(intent),
            r.unknown.join(" ")
        ));
    }
    if matches!(
        intent,
        Intent::Kind(TaskKind::Reorder | TaskKind::ShipmentTracking)
    ) {
        if let Some(n) = r.loose_quantities.first() {
            return Err(format!("Which SKU should the {n} units in \"{q}\" be of?"));
        }
    }
    let left = leftovers(r, &uses(intent), today);
    if !left.is_empty() {
        return Err(format!(
            "I read \"{q}\" as {} but do not know what to do there with {}. Is it meant for \
             another instruction?",
            intent_name(intent),
            left.join("; ")
        ));
    }
    let skus = || r.skus.iter().map(|s| s.sku.clone()).collect::<Vec<_>>();
    let components = || r.components.clone();
    Ok(match intent {
        Intent::Kind(TaskKind::InventoryScan) => single(Work::InventoryScan(InventoryScan {
            skus: skus(),
            warehouse: r.warehouse.clone(),
        })),
        Intent::Kind(TaskKind::Reorder) => single(Work::Reorder(Reorder {
            items: r
                .skus
                .iter()
                .map(|s| ReorderLine {
                    sku: s.sku.clone(),
                    quantity: s.quantity.and_then(|q| NonZeroU32::new(q.get())),
                })
                .collect(),
            supplier: r.supplier.clone(),
            warehouse: r.warehouse.clone(),
            deliver_by: first_day(r, today),
            budget: r.amounts.first().copied(),
        })),
        Intent::Kind(TaskKind::ShipmentTracking) => {
            // SKUs with quantities are what the parcel carries (its
            // shipping notice); SKUs alone say which shipments to follow.
            let contents: Vec<ParcelLine> = r
                .skus
                .iter()
                .filter_map(|s| {
                    Some(ParcelLine {
                        sku: s.sku.clone(),
                        quantity: NonZeroU32::new(s.quantity?.get())?,
                    })
                })
                .collect();
            single(Work::ShipmentTracking(ShipmentTracking {
                tracking_numbers: r.tracking.clone(),
                purchase_orders: r.purchase_orders.clone(),
                skus: r
                    .skus
                    .iter()
                    .filter(|s| s.quantity.is_none())
                    .map(|s| s.sku.clone())
                    .collect(),
                supplier: r.supplier.clone(),
                period: first_span(r, today),
                contents,
            }))
        }
        Intent::Kind(TaskKind::InvoiceAudit) => single(Work::InvoiceAudit(InvoiceAudit {
            period: first_span(r, today),
            checks: r.checks.clone(),
            supplier: r.supplier.clone(),
            invoices: r.invoices.clone(),
        })),
        Intent::Kind(TaskKind::PaymentRun) => {
            if r.amounts.len() > 1 {
                return Err(format!(
                    "\"{q}\" names several amounts; which one is the most to pay in all?"
                ));
            }
            single(Work::PaymentRun(PaymentRun {
                selection: r.selection.unwrap_or_default(),
                invoices: r.invoices.clone(),
                supplier: r.supplier.clone(),
                due_by: first_day(r, today),
                amount_cap: r.amounts.first().copied(),
            }))
        }
        Intent::Kind(TaskKind::CashFlowForecast) => {
            let horizon = match r.when.first() {
                None => Horizon::default(),
                Some(When::Weeks(n)) => match Weeks::try_from(*n) {
                    Ok(weeks) => Horizon::Weeks(weeks),
                    Err(e) => return Err(format!("In \"{q}\": {e}. How far ahead should I look?")),
                },
                Some(_) => match first_span(r, today) {
                    Some(p) => Horizon::Period(p),
                    None => Horizon::default(),
                },
            };
            single(Work::CashFlowForecast(CashFlowForecast {
                horizon,
                currency: r.currency,
            }))
        }
        Intent::Kind(TaskKind::HealthCheck) => single(Work::HealthCheck(HealthCheck {
            components: components(),
        })),
        Intent::Kind(TaskKind::Restart) => {
            if r.components.is_empty() {
                return Err(format!(
                    "Which component should I restart for \"{q}\"? I can restart: {}.",
                    component_names()
                ));
            }
            r.components
                .iter()
                .map(|&component| Draft {
                    work: Work::Restart(Restart {
                        component,
                        only_if_unhealthy: r.conditional,
                    }),
                    after: Vec::new(),
                })
                .collect()
        }
        Intent::Fix => {
            if r.components.is_empty() {
                return Err(format!(
                    "What should I fix for \"{q}\"? Name a component ({}) and I will check it \
                     and restart it if it is unhealthy.",
                    component_names()
                ));
            }
            let mut drafts = single(Work::HealthCheck(HealthCheck {
                components: components(),
            }));
            drafts.extend(r.components.iter().map(|&component| Draft {
                work: Work::Restart(Restart {
                    component,
                    only_if_unhealthy: true,
                }),
                after: vec![0],
            }));
            drafts
        }
        Intent::Kind(TaskKind::Maintenance) => single(Work::Maintenance(Maintenance {
            jobs: r.jobs.clone(),
            components: components(),
            window: first_span(r, today),
        })),
        Intent::Kind(TaskKind::Deploy) => single(Work::Deploy(Deploy {
            version: r.version.clone(),
            environment: r.environment.unwrap_or_default(),
            components: components(),
            window: first_span(r, today),
        })),
    })
}
