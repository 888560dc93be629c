//! `logistics.feature`: the Logistics agent reorders what runs low in the
//! demo company's ERPNext (simulated, reached through the real client):
//! purchase orders with the reorder rules' quantities, the CEO's approval
//! above the policy's limit, and each order placed in ERPNext once through
//! failures, lost answers and a restart; a parcel in trouble on its way is
//! put to the CEO before its goods are received.
//!
//! What AgentOS did is read as the dashboard reads it (the logistics API's
//! scans and purchase orders, the approvals inbox, the directive); what
//! ERPNext holds is read from the simulator's documents.

use std::collections::{BTreeMap, BTreeSet};

use api::schedule::StandingOrder;
use chrono::NaiveTime;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use domain::logistics::{ReorderDecision, ReorderOutcome, ReorderReasoning};
use domain::Money;
use features::{AgentOs, DemoCompany};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use simulators::carrier::TrackingStep;
use simulators::erpnext::DEMO_BELOW_REORDER;
use simulators::FaultPlan;
use uuid::Uuid;

use super::{ensure, fail, Failure, Outcome};
use crate::Company;

/// Who asks for the approvals of purchase orders.
const AGENT: &str = "agent:logistics";
/// Who gives standing orders.
const SCHEDULE: &str = "system:schedule";
/// Who follows shipments and asks the CEO about their alerts.
const SHIPMENT_FOLLOWER: &str = "agent:logistics_shipments";

/// An inventory scan as `GET /api/v1/logistics/scans/{id}` shows it.
#[derive(Debug, Clone, Deserialize)]
struct Scan {
    /// Each level at or below its reorder point, with its reasoning.
    decisions: Vec<ReorderDecision>,
    /// The purchase orders drafted.
    drafts: Vec<Draft>,
}

impl Scan {
    /// The decisions to order.
    fn orders(&self) -> impl Iterator<Item = &ReorderDecision> {
        self.decisions
            .iter()
            .filter(|d| matches!(d.outcome, ReorderOutcome::Order { .. }))
    }
}

/// A purchase order a scan drafted.
#[derive(Debug, Clone, Deserialize)]
struct Draft {
    po_id: Uuid,
    supplier: String,
    warehouse: String,
}

/// A purchase order as `GET /api/v1/logistics/purchase-orders/{id}` shows it.
#[derive(Debug, Clone, Deserialize)]
struct Order {
    id: Uuid,
    status: String,
    supplier: String,
    warehouse: String,
    amount: Money,
    erp_name: Option<String>,
    approval_id: Option<Uuid>,
    lines: Vec<Line>,
    history: Vec<Change>,
}

/// A line of a purchase order.
#[derive(Debug, Clone, Deserialize)]
struct Line {
    sku: String,
    qty: u32,
    /// Units received so far.
    received: u64,
    reasoning: ReorderReasoning,
    /// The reasoning in one line, as the dashboard shows it.
    explanation: String,
}

/// A step of a purchase order's life.
#[derive(Debug, Clone, Deserialize)]
struct Change {
    status: String,
    by: String,
    reason: Option<String>,
}

impl Order {
    /// Whether it passed the approval gate one way or the other.
    fn gated(&self) -> bool {
        self.status != "drafted"
    }

    /// Whether it waits for a person's decision.
    fn waiting(&self) -> bool {
        self.status == "awaiting_approval"
    }

    /// Whether it went on without a person, under the policy.
    fn approved_under_policy(&self) -> bool {
        self.approval_id.is_none()
            && !self.history.iter().any(|c| c.status == "awaiting_approval")
            && self
                .history
                .iter()
                .any(|c| c.status == "approved" && c.by == AGENT)
    }

    /// Whether a person approved it.
    fn approved_by_a_person(&self) -> bool {
        self.history
            .iter()
            .any(|c| c.status == "approved" && c.by.starts_with("user:"))
    }

    /// The approval it waits or waited for, as text.
    fn approval(&self) -> Option<String> {
        self.approval_id.map(|a| a.to_string())
    }

    /// Its amount in minor units (cents).
    fn minor(&self) -> i64 {
        self.amount.minor
    }

    /// The order in a few words, for messages.
    fn describe(&self) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|l| format!("{} × {} ({} received)", l.qty, l.sku, l.received))
            .collect();
        let history: Vec<String> = self
            .history
            .iter()
            .map(|c| format!("{} by {}", c.status, c.by))
            .collect();
        format!(
            "purchase order {} to {} for {} ({}), {}: {}",
            self.id,
            self.supplier,
            self.warehouse,
            lines.join(", "),
            self.amount,
            history.join(" → ")
        )
    }
}

/// Every order in a few words, one a line.
fn describe_all(orders: &[Order]) -> String {
    let lines: Vec<String> = orders
        .iter()
        .map(|o| format!("  {}", o.describe()))
        .collect();
    format!("\n{}", lines.join("\n"))
}

/// The reorder scan of a directive and its purchase orders, as the
/// logistics API shows them.
#[derive(Debug, Clone)]
struct Reorder {
    scan: Scan,
    orders: Vec<Order>,
}

impl Reorder {
    /// Whether every order the scan drafted is shown.
    fn all_drafted(&self) -> bool {
        self.scan
            .drafts
            .iter()
            .all(|d| self.orders.iter().any(|o| o.id == d.po_id))
    }

    /// The order asking for `approval`.
    fn asking(&self, approval: &str) -> Option<&Order> {
        self.orders
            .iter()
            .find(|o| o.approval().as_deref() == Some(approval))
    }
}

impl Company {
    /// AgentOS, to stop and start it.
    fn os_mut(&mut self) -> Result<&mut AgentOs, Failure> {
        match &mut self.agentos {
            Some(agentos) => Ok(agentos),
            None => fail("AgentOS is not running: the Background starts it".to_owned()),
        }
    }

    /// The demo company's simulated systems.
    fn demo(&self) -> Result<&DemoCompany, Failure> {
        match self.os()?.company() {
            Some(company) => Ok(company),
            None => fail(
                "AgentOS runs without the demo company's systems: the Background must start it with them"
                    .to_owned(),
            ),
        }
    }

    /// GETs `path` as the CEO: the body, or `None` while the read model is
    /// still being built (503).
    async fn read<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, Failure> {
        let answer = self.os()?.get(path, &self.token("ceo")?).await?;
        if answer.status == 503 {
            return Ok(None);
        }
        Ok(Some(answer.expect(200)?.parse()?))
    }

    /// The followed directive's reorder scan and purchase orders as they
    /// stand, once the scan is shown.
    async fn reorder_now(&self) -> Result<Result<Reorder, String>, Failure> {
        let directive = self.directive_id()?;
        let Some(scans) = self
            .read::<Value>(&format!("/api/v1/logistics/scans?directive_id={directive}"))
            .await?
        else {
            return Ok(Err(
                "the logistics read model is still being built".to_owned()
            ));
        };
        let reorder_scan = scans["scans"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["purpose"] == "reorder")
            .and_then(|s| s["id"].as_str().map(str::to_owned));
        let Some(scan_id) = reorder_scan else {
            return Ok(Err(format!(
                "no reorder scan for the directive yet: {scans}"
            )));
        };
        let Some(scan) = self
            .read::<Scan>(&format!("/api/v1/logistics/scans/{scan_id}"))
            .await?
        else {
            return Ok(Err(format!("scan {scan_id} is not readable yet")));
        };
        let Some(listed) = self
            .read::<Value>(&format!(
                "/api/v1/logistics/purchase-orders?directive_id={directive}&limit=500"
            ))
            .await?
        else {
            return Ok(Err(
                "the logistics read model is still being built".to_owned()
            ));
        };
        let mut orders = Vec::new();
        for id in listed["purchase_orders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["id"].as_str())
        {
            match self
                .read::<Order>(&format!("/api/v1/logistics/purchase-orders/{id}"))
                .await?
            {
                Some(order) => orders.push(order),
                None => return Ok(Err(format!("purchase order {id} is not readable yet"))),
            }
        }
        Ok(Ok(Reorder { scan, orders }))
    }

    /// The followed directive's reorder scan and purchase orders once every
    /// order it drafted is shown and `done` holds for them.
    async fn reorder_when(
        &self,
        what: &str,
        done: impl Fn(&Reorder) -> bool,
    ) -> Result<Reorder, Failure> {
        let (this, done) = (self, &done);
        let reorder = self
            .os()?
            .eventually(what, move || async move {
                Ok(
                    match this.reorder_now().await.map_err(|f| anyhow::anyhow!(f))? {
                        Ok(reorder) if reorder.all_drafted() && done(&reorder) => Ok(reorder),
                        Ok(reorder) => Err(format!(
                            "{} drafts, these orders:{}",
                            reorder.scan.drafts.len(),
                            describe_all(&reorder.orders)
                        )),
                        Err(seen) => Err(seen),
                    },
                )
            })
            .await?;
        Ok(reorder)
    }

    /// The approvals inbox's pending approvals once it lists every one of `ids`.
    async fn pending_approvals(&self, ids: &[String]) -> Result<Vec<Value>, Failure> {
        let answer = self
            .os()?
            .get_until(
                "/api/v1/approvals?status=pending",
                &self.token("ceo")?,
                &format!("the approvals inbox to list {ids:?} as pending"),
                |a| {
                    a.status == 200
                        && a.json().is_ok_and(|list| {
                            ids.iter().all(|id| {
                                list["approvals"]
                                    .as_array()
                                    .is_some_and(|all| all.iter().any(|x| x["id"] == id.as_str()))
                            })
                        })
                },
            )
            .await?;
        let list = answer.json()?;
        Ok(list["approvals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| {
                a["id"]
                    .as_str()
                    .is_some_and(|id| ids.iter().any(|i| i == id))
            })
            .cloned()
            .collect())
    }
}

/// Checks that ERPNext holds `order` exactly once, submitted, as drafted.
fn in_erpnext_once(demo: &DemoCompany, order: &Order) -> Outcome {
    let id = order.id.to_string();
    let twins: Vec<Value> = demo
        .erpnext
        .purchase_orders()
        .into_iter()
        .filter(|po| po["custom_agentos_po_id"] == id.as_str())
        .collect();
    let [doc] = twins.as_slice() else {
        return fail(format!(
            "ERPNext should hold {} once, holds it {} times: {twins:#?}",
            order.describe(),
            twins.len()
        ));
    };
    let erp_name = order.erp_name.as_deref().unwrap_or_default();
    ensure(doc["name"] == erp_name, || {
        format!(
            "the API shows {} placed as {erp_name:?}, ERPNext names it {}",
            order.id, doc["name"]
        )
    })?;
    ensure(
        doc["docstatus"] == 1 && doc["supplier"] == order.supplier.as_str(),
        || {
            format!(
                "ERPNext should hold {} submitted, to its supplier: {doc:#}",
                order.describe()
            )
        },
    )?;
    let held: BTreeMap<String, (f64, String)> = doc["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            (
                row["item_code"].as_str().unwrap_or_default().to_owned(),
                (
                    row["qty"].as_f64().unwrap_or_default(),
                    row["warehouse"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect();
    let drafted: BTreeMap<String, (f64, String)> = order
        .lines
        .iter()
        .map(|l| (l.sku.clone(), (f64::from(l.qty), order.warehouse.clone())))
        .collect();
    ensure(held == drafted, || {
        format!(
            "ERPNext's {erp_name} should hold the drafted lines {drafted:?} (quantity, warehouse), holds {held:?}"
        )
    })
}

/// Checks that ERPNext does not hold `order`.
fn not_in_erpnext(demo: &DemoCompany, order: &Order) -> Outcome {
    let held = demo.erpnext.purchase_orders_with_id(&order.id.to_string());
    ensure(held == 0 && order.erp_name.is_none(), || {
        format!(
            "{} waits for the CEO, yet ERPNext holds it {held} times",
            order.describe()
        )
    })
}

/// The rows of a step's `item | warehouse` table.
fn items_of(step: &Step) -> Result<Vec<(String, String)>, Failure> {
    let Some(table) = step.table.as_ref() else {
        return fail("the step needs a table of items and warehouses".to_owned());
    };
    ensure(
        table
            .rows
            .first()
            .is_some_and(|h| *h == ["item", "warehouse"]),
        || {
            format!(
                "the table's columns are item and warehouse: {:?}",
                table.rows.first()
            )
        },
    )?;
    Ok(table
        .rows
        .iter()
        .skip(1)
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect())
}

/// Whether the demo company has `item` below its reorder level in `warehouse`.
fn below_reorder(item: &str, warehouse: &str) -> bool {
    DEMO_BELOW_REORDER
        .iter()
        .any(|(i, w, _)| *i == item && *w == warehouse)
}

#[given(
    "AgentOS runs on PostgreSQL and NATS JetStream with the demo company's ERPNext and carrier simulated"
)]
async fn agentos_with_demo_company(world: &mut Company) -> Outcome {
    world.agentos = Some(AgentOs::with_demo_company().await?);
    Ok(())
}

#[then("the reorder scan drafts one purchase order for each supplier and warehouse with items to order")]
async fn one_order_per_supplier_and_warehouse(world: &mut Company) -> Outcome {
    let reorder = world
        .reorder_when("the reorder scan and its purchase orders", |_| true)
        .await?;
    let scan = &reorder.scan;
    ensure(scan.orders().next().is_some(), || {
        format!(
            "the demo company has items below their reorder point; the scan orders none: {:#?}",
            scan.decisions
        )
    })?;
    let wanted: BTreeSet<(&str, &str)> = scan
        .orders()
        .map(|d| (d.supplier.as_str(), d.warehouse.as_str()))
        .collect();
    let drafted: Vec<(&str, &str)> = scan
        .drafts
        .iter()
        .map(|d| (d.supplier.as_str(), d.warehouse.as_str()))
        .collect();
    let distinct: BTreeSet<(&str, &str)> = drafted.iter().copied().collect();
    ensure(
        distinct.len() == drafted.len() && distinct == wanted,
        || {
            format!(
                "one purchase order per supplier and warehouse with items to order {wanted:?}; drafted {drafted:?}"
            )
        },
    )?;
    for decision in scan.orders() {
        let line = reorder
            .orders
            .iter()
            .filter(|o| {
                o.supplier == decision.supplier.as_str()
                    && o.warehouse == decision.warehouse.as_str()
            })
            .flat_map(|o| o.lines.iter())
            .find(|l| l.sku == decision.sku.as_str());
        ensure(line.is_some_and(|l| l.qty == decision.quantity()), || {
            format!(
                "the purchase order to {} for {} should order {} × {}: {line:?}{}",
                decision.supplier,
                decision.warehouse,
                decision.quantity(),
                decision.sku,
                describe_all(&reorder.orders)
            )
        })?;
    }
    Ok(())
}

#[then("every line orders whole packs of the item and at least its minimum order, as its reasoning shows")]
async fn whole_packs_above_minimum(world: &mut Company) -> Outcome {
    let reorder = world
        .reorder_when("the reorder scan and its purchase orders", |_| true)
        .await?;
    let demo = world.demo()?;
    for order in &reorder.orders {
        for line in &order.lines {
            let r = &line.reasoning;
            let Some(item) = demo.erpnext.doc("Item", &line.sku) else {
                return fail(format!("ERPNext has no item {}", line.sku));
            };
            let pack = item["custom_pack_size"].as_f64().unwrap_or(1.0);
            let minimum = item["min_order_qty"].as_f64().unwrap_or_default();
            let shown = format!(
                "{} × {} to {} for {}: {}",
                line.qty, line.sku, order.supplier, order.warehouse, line.explanation
            );
            ensure(
                f64::from(r.pack_size) == pack && f64::from(r.min_order_qty) == minimum,
                || {
                    format!(
                        "the reasoning should use ERPNext's pack of {pack} and minimum of {minimum}: {shown}"
                    )
                },
            )?;
            ensure(r.order_qty == line.qty, || {
                format!("the line should order what its reasoning ordered: {shown}")
            })?;
            ensure(r.pack_size > 0 && line.qty % r.pack_size == 0, || {
                format!(
                    "{} is not whole packs of {}: {shown}",
                    line.qty, r.pack_size
                )
            })?;
            ensure(line.qty >= r.min_order_qty, || {
                format!(
                    "{} is below the minimum order of {}: {shown}",
                    line.qty, r.min_order_qty
                )
            })?;
            ensure(r.projected as f64 <= r.reorder_point, || {
                format!("only what is at or below its reorder point is ordered: {shown}")
            })?;
        }
    }
    Ok(())
}

#[when("the CEO approves every purchase order waiting for approval")]
async fn approve_every_waiting(world: &mut Company) -> Outcome {
    let reorder = world
        .reorder_when(
            "every purchase order to wait for approval or be approved under policy",
            |r| r.orders.iter().all(Order::gated),
        )
        .await?;
    let waiting: Vec<String> = reorder
        .orders
        .iter()
        .filter(|o| o.waiting())
        .filter_map(Order::approval)
        .collect();
    world.pending_approvals(&waiting).await?;
    let os = world.os()?;
    let token = world.token("ceo")?;
    for id in &waiting {
        os.post(
            &format!("/api/v1/approvals/{id}"),
            &token,
            &json!({ "decision": "approve", "reason": "needed for the stock" }),
            None,
        )
        .await?
        .expect(202)?;
    }
    Ok(())
}

#[then("every purchase order drafted is placed in ERPNext exactly once")]
async fn every_order_placed_once(world: &mut Company) -> Outcome {
    let reorder = world
        .reorder_when("every purchase order to be placed in ERPNext", |r| {
            r.orders
                .iter()
                .all(|o| o.status == "submitted" && o.erp_name.is_some())
        })
        .await?;
    ensure(!reorder.orders.is_empty(), || {
        "the reorder scan drafted no purchase order".to_owned()
    })?;
    let demo = world.demo()?;
    for order in &reorder.orders {
        in_erpnext_once(demo, order)?;
    }
    let ours: Vec<Value> = demo
        .erpnext
        .purchase_orders()
        .into_iter()
        .filter(|po| po["custom_agentos_po_id"].is_string())
        .collect();
    ensure(ours.len() == reorder.orders.len(), || {
        format!(
            "ERPNext should hold the {} purchase orders AgentOS drafted and no other of ours, holds {}: {ours:#?}",
            reorder.orders.len(),
            ours.len()
        )
    })
}

#[then(regex = r"^the purchase orders above EUR (\d+) wait for the CEO's approval, and only they$")]
async fn above_limit_wait(world: &mut Company, limit: i64) -> Outcome {
    let reorder = world
        .reorder_when(
            "every purchase order to wait for approval or be approved under policy",
            |r| r.orders.iter().all(Order::gated),
        )
        .await?;
    let limit_minor = limit * 100;
    for order in &reorder.orders {
        ensure(order.amount.currency.to_string() == "EUR", || {
            format!("the demo company buys in euros: {}", order.describe())
        })?;
        let above = order.minor() > limit_minor;
        ensure(above == order.waiting(), || {
            format!(
                "an order {} EUR {limit} should {}wait for approval: {}",
                if above { "above" } else { "at or below" },
                if above { "" } else { "not " },
                order.describe()
            )
        })?;
    }
    let mut above: Vec<&Order> = reorder.orders.iter().filter(|o| o.waiting()).collect();
    ensure(!above.is_empty(), || {
        format!(
            "the demo company should need an order above EUR {limit}:{}",
            describe_all(&reorder.orders)
        )
    })?;
    above.sort_by_key(|o| std::cmp::Reverse(o.minor()));
    let ids: Vec<String> = above.iter().filter_map(|o| o.approval()).collect();
    ensure(ids.len() == above.len(), || {
        format!(
            "each order waiting names its approval:{}",
            describe_all(&reorder.orders)
        )
    })?;
    let approvals = world.pending_approvals(&ids).await?;
    for order in &above {
        let id = order.approval().unwrap_or_default();
        let Some(approval) = approvals.iter().find(|a| a["id"] == id.as_str()) else {
            return fail(format!("the inbox does not list approval {id}"));
        };
        let amount = json!({ "minor": order.minor(), "currency": "EUR" });
        ensure(
            approval["requested_by"] == AGENT
                && approval["amount"] == amount
                && approval["why"]
                    .as_str()
                    .is_some_and(|why| why.contains("purchase orders above 1,000")),
            || {
                format!(
                    "the Logistics agent should ask for {amount} under the policy's limit: {approval:#}"
                )
            },
        )?;
        let rule = order
            .history
            .iter()
            .find(|c| c.status == "awaiting_approval")
            .and_then(|c| c.reason.as_deref())
            .unwrap_or_default();
        ensure(rule.contains("purchase orders above 1,000"), || {
            format!(
                "the order's history should name the policy's rule: {}",
                order.describe()
            )
        })?;
    }
    world.approval = ids.first().cloned();
    Ok(())
}

#[then(
    regex = r"^the purchase orders at or below EUR (\d+) are placed in ERPNext without approval$"
)]
async fn at_or_below_limit_placed(world: &mut Company, limit: i64) -> Outcome {
    let limit_minor = limit * 100;
    let reorder = world
        .reorder_when(
            &format!("the purchase orders at or below EUR {limit} to be placed"),
            |r| {
                r.orders
                    .iter()
                    .filter(|o| o.minor() <= limit_minor)
                    .all(|o| o.status == "submitted")
            },
        )
        .await?;
    let below: Vec<&Order> = reorder
        .orders
        .iter()
        .filter(|o| o.minor() <= limit_minor)
        .collect();
    ensure(!below.is_empty(), || {
        format!(
            "the demo company should need an order at or below EUR {limit}:{}",
            describe_all(&reorder.orders)
        )
    })?;
    let demo = world.demo()?;
    for order in below {
        ensure(order.approved_under_policy(), || {
            format!("placed without a person's approval: {}", order.describe())
        })?;
        in_erpnext_once(demo, order)?;
    }
    Ok(())
}

#[then("the purchase order the CEO is asked to approve is not in ERPNext")]
async fn asked_not_in_erpnext(world: &mut Company) -> Outcome {
    let approval = world.approval_id()?;
    let reorder = world
        .reorder_when("the purchase orders of the order", |_| true)
        .await?;
    let Some(order) = reorder.asking(&approval) else {
        return fail(format!(
            "no purchase order asks for approval {approval}:{}",
            describe_all(&reorder.orders)
        ));
    };
    ensure(order.waiting(), || {
        format!("it should still wait for the CEO: {}", order.describe())
    })?;
    not_in_erpnext(world.demo()?, order)
}

#[then("its purchase order is placed in ERPNext exactly once")]
async fn its_order_placed_once(world: &mut Company) -> Outcome {
    let approval = world.approval_id()?;
    let reorder = world
        .reorder_when(
            &format!("the purchase order of approval {approval} to be placed"),
            |r| r.asking(&approval).is_some_and(|o| o.status == "submitted"),
        )
        .await?;
    let Some(order) = reorder.asking(&approval) else {
        return fail(format!("no purchase order asks for approval {approval}"));
    };
    ensure(order.approved_by_a_person(), || {
        format!(
            "it should be placed as the CEO approved it: {}",
            order.describe()
        )
    })?;
    in_erpnext_once(world.demo()?, order)
}

#[then("the purchase orders still waiting for approval are not in ERPNext")]
async fn still_waiting_not_in_erpnext(world: &mut Company) -> Outcome {
    let reorder = world
        .reorder_when("the purchase orders of the order", |_| true)
        .await?;
    let waiting: Vec<&Order> = reorder.orders.iter().filter(|o| o.waiting()).collect();
    ensure(!waiting.is_empty(), || {
        format!(
            "another purchase order should still wait for the CEO:{}",
            describe_all(&reorder.orders)
        )
    })?;
    let demo = world.demo()?;
    for order in waiting {
        not_in_erpnext(demo, order)?;
    }
    Ok(())
}

#[when(regex = r"^ERPNext fails the next (\d+) requests and loses the answer to the (\d+) after$")]
async fn erpnext_misbehaves(world: &mut Company, fail_next: u32, lose: u32) -> Outcome {
    world.demo()?.erpnext_server.faults().set(FaultPlan {
        fail_next,
        lose_next_answers: lose,
        ..FaultPlan::default()
    });
    Ok(())
}

#[then("ERPNext failed and lost answers as planned")]
async fn erpnext_misbehaved(world: &mut Company) -> Outcome {
    let left = world.demo()?.erpnext_server.faults().get();
    ensure(left.fail_next == 0 && left.lose_next_answers == 0, || {
        format!("ERPNext was not asked enough to fail as planned; left over: {left:?}")
    })
}

#[when(regex = r"^ERPNext takes (\d+) ms to answer each request$")]
async fn erpnext_slow(world: &mut Company, delay_ms: u64) -> Outcome {
    world.demo()?.erpnext_server.faults().set(FaultPlan {
        delay_ms,
        ..FaultPlan::default()
    });
    Ok(())
}

#[when("ERPNext answers promptly again")]
async fn erpnext_prompt(world: &mut Company) -> Outcome {
    world.demo()?.erpnext_server.faults().clear();
    Ok(())
}

#[when("AgentOS stops abruptly while ERPNext is creating one of its purchase orders")]
async fn stop_while_creating(world: &mut Company) -> Outcome {
    // Placing an order creates it in ERPNext, then submits it: caught
    // between the two, AgentOS has not recorded it as placed.
    let demo = world.demo()?;
    world
        .os()?
        .eventually(
            "ERPNext to hold one of AgentOS's purchase orders not yet submitted",
            || async {
                let ours: Vec<Value> = demo
                    .erpnext
                    .purchase_orders()
                    .into_iter()
                    .filter(|po| po["custom_agentos_po_id"].is_string())
                    .collect();
                Ok(if ours.iter().any(|po| po["docstatus"] == 0) {
                    Ok(())
                } else {
                    Err(format!("ERPNext's purchase orders from AgentOS: {ours:?}"))
                })
            },
        )
        .await?;
    world.os_mut()?.stop_abruptly().await;
    Ok(())
}

#[when("AgentOS starts again over the same database, NATS and ERPNext")]
async fn start_again(world: &mut Company) -> Outcome {
    world.os_mut()?.start_again().await?;
    Ok(())
}

#[when("the morning scan is given, as the demo gives it")]
async fn morning_scan(world: &mut Company) -> Outcome {
    let at = NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN);
    let id = world
        .os()?
        .give_standing_order(&StandingOrder::morning_scan(at))
        .await?;
    world.directive = Some(id.to_string());
    Ok(())
}

#[then(regex = r#"^the order "([^"]*)" comes from the schedule$"#)]
async fn from_the_schedule(world: &mut Company, text: String) -> Outcome {
    let directive = world
        .directive_when("the standing order to be planned", |d| {
            d["status"] != "planning"
        })
        .await?;
    ensure(
        directive["text"] == text.as_str() && directive["issued_by"] == SCHEDULE,
        || format!("the schedule should have given {text:?}: {directive:#}"),
    )
}

#[then("the reorder scan orders each of these items, which ERPNext has below their reorder level:")]
async fn orders_each(world: &mut Company, step: &Step) -> Outcome {
    let rows = items_of(step)?;
    let reorder = world.reorder_when("the reorder scan", |_| true).await?;
    let ordered: Vec<(&str, &str)> = reorder
        .scan
        .orders()
        .map(|d| (d.sku.as_str(), d.warehouse.as_str()))
        .collect();
    for (item, warehouse) in &rows {
        ensure(below_reorder(item, warehouse), || {
            format!("the demo company does not have {item} below its reorder level in {warehouse}: {DEMO_BELOW_REORDER:?}")
        })?;
        ensure(
            ordered.contains(&(item.as_str(), warehouse.as_str())),
            || {
                format!("{item} in {warehouse} runs low and should be ordered; the scan orders {ordered:?}")
            },
        )?;
    }
    Ok(())
}

#[then("it orders none of these items, which ERPNext has well above their reorder level:")]
async fn orders_none(world: &mut Company, step: &Step) -> Outcome {
    let rows = items_of(step)?;
    let reorder = world.reorder_when("the reorder scan", |_| true).await?;
    let ordered: Vec<&str> = reorder
        .orders
        .iter()
        .flat_map(|o| o.lines.iter().map(|l| l.sku.as_str()))
        .chain(reorder.scan.orders().map(|d| d.sku.as_str()))
        .collect();
    for (item, warehouse) in &rows {
        ensure(!below_reorder(item, warehouse), || {
            format!("the demo company has {item} below its reorder level in {warehouse}")
        })?;
        ensure(!ordered.contains(&item.as_str()), || {
            format!("{item} has plenty in {warehouse} and should not be ordered; the scan orders {ordered:?}")
        })?;
    }
    Ok(())
}

impl Company {
    /// The followed directive's only task, once `done` holds for it.
    async fn only_task_when(
        &self,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value, Failure> {
        let directive = self
            .directive_when(what, |d| {
                d["tasks"]
                    .as_array()
                    .is_some_and(|tasks| tasks.len() == 1 && done(&tasks[0]))
            })
            .await?;
        Ok(directive["tasks"][0].clone())
    }

    /// The shipment of `tracking_number` as the logistics API shows it,
    /// once `done` holds for it.
    async fn shipment_when(
        &self,
        tracking_number: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value, Failure> {
        let find = |list: &Value| {
            list["shipments"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["tracking_number"] == tracking_number)
                .cloned()
        };
        let answer = self
            .os()?
            .get_until(
                "/api/v1/logistics/shipments",
                &self.token("ceo")?,
                what,
                |a| {
                    a.status == 200
                        && a.json()
                            .ok()
                            .as_ref()
                            .and_then(find)
                            .is_some_and(|s| done(&s))
                },
            )
            .await?;
        match find(&answer.json()?) {
            Some(shipment) => Ok(shipment),
            None => fail(format!(
                "the logistics API lost the parcel {tracking_number}"
            )),
        }
    }
}

#[when(
    regex = r#"^the carrier is to report parcel "(\w+)" damaged in transit before delivering it$"#
)]
async fn parcel_to_be_damaged(world: &mut Company, tracking_number: String) -> Outcome {
    world.demo()?.carrier.script(
        &tracking_number,
        vec![
            TrackingStep::new("pre_transit", "label_created", "Shipping Label Created")
                .at("MALMO", "SE", "21119"),
            TrackingStep::new("failure", "damaged", "Package damaged in transit")
                .at("HAMBURG", "HH", "20095"),
            TrackingStep::new("delivered", "arrived_at_destination", "Delivered")
                .at("BERLIN", "BE", "10115"),
        ],
    );
    Ok(())
}

impl Company {
    /// A purchase order the policy let through without a person, once
    /// ERPNext holds it; the scenario follows it from now on.
    async fn placed_without_approval(&mut self) -> Result<Order, Failure> {
        let reorder = self
            .reorder_when("a purchase order placed without approval", |r| {
                r.orders
                    .iter()
                    .any(|o| o.approved_under_policy() && o.erp_name.is_some())
            })
            .await?;
        let Some(order) = reorder
            .orders
            .iter()
            .find(|o| o.approved_under_policy() && o.erp_name.is_some())
        else {
            return fail(format!(
                "no purchase order was placed without approval:{}",
                describe_all(&reorder.orders)
            ));
        };
        self.tracked_order = Some(order.id);
        Ok(order.clone())
    }

    /// The purchase order the scenario follows, as the logistics API shows
    /// it once `done` holds for it.
    async fn tracked_order_when(
        &self,
        what: &str,
        done: impl Fn(&Order) -> bool,
    ) -> Result<Order, Failure> {
        let Some(id) = self.tracked_order else {
            return fail("no purchase order is followed yet".to_owned());
        };
        self.order_when(&id.to_string(), what, done).await
    }

    /// Purchase order `id` as the logistics API shows it once `done` holds
    /// for it.
    async fn order_when(
        &self,
        id: &str,
        what: &str,
        done: impl Fn(&Order) -> bool,
    ) -> Result<Order, Failure> {
        let path = format!("/api/v1/logistics/purchase-orders/{id}");
        let order = self
            .os()?
            .eventually(what, || async {
                let order: Option<Order> =
                    self.read(&path).await.map_err(|f| anyhow::anyhow!(f))?;
                Ok(match order {
                    Some(order) if done(&order) => Ok(order),
                    Some(order) => Err(order.describe()),
                    None => Err("the logistics read model is still being built".to_owned()),
                })
            })
            .await?;
        Ok(order)
    }

    /// Gives the order to track `tracking_number` for `order`, naming what
    /// the parcel carries (its shipping notice) when `contents` says so.
    async fn order_parcel_tracked(
        &mut self,
        tracking_number: &str,
        order: &Order,
        contents: &[(String, u64)],
    ) -> Outcome {
        let erp_name = order.erp_name.clone().unwrap_or_default();
        let mut text = format!("Track parcel {tracking_number} for {erp_name}");
        let carried: Vec<String> = contents
            .iter()
            .map(|(sku, qty)| format!("{qty} {sku}"))
            .collect();
        if !carried.is_empty() {
            text = format!("{text} carrying {}", carried.join(" and "));
        }
        let answer = self
            .os()?
            .post(
                "/api/v1/directives",
                &self.token("ceo")?,
                &json!({ "text": text }),
                None,
            )
            .await?
            .expect(202)?;
        match answer.json()?["directive_id"].as_str() {
            Some(id) => self.directive = Some(id.to_owned()),
            None => {
                return fail(format!(
                    "the order {text:?} was accepted without a directive: {}",
                    answer.text
                ))
            }
        }
        Ok(())
    }
}

#[when(
    regex = r#"^the CEO orders parcel "(\w+)" of a purchase order placed without approval tracked$"#
)]
async fn order_tracking(world: &mut Company, tracking_number: String) -> Outcome {
    let order = world.placed_without_approval().await?;
    world
        .order_parcel_tracked(&tracking_number, &order, &[])
        .await
}

#[when(
    regex = r#"^the CEO orders parcel "(\w+)" of a purchase order placed without approval tracked, carrying half of its first line$"#
)]
async fn order_tracking_half(world: &mut Company, tracking_number: String) -> Outcome {
    let order = world.placed_without_approval().await?;
    let Some(line) = order.lines.first() else {
        return fail(format!("{} has no line", order.describe()));
    };
    ensure(line.qty >= 2, || {
        format!(
            "half of a line needs two units or more: {}",
            order.describe()
        )
    })?;
    let half = vec![(line.sku.clone(), u64::from(line.qty / 2))];
    world
        .order_parcel_tracked(&tracking_number, &order, &half)
        .await
}

#[when(
    regex = r#"^the CEO orders parcel "(\w+)" of that purchase order tracked, carrying the rest$"#
)]
async fn order_tracking_rest(world: &mut Company, tracking_number: String) -> Outcome {
    let order = world
        .tracked_order_when("the purchase order followed", |_| true)
        .await?;
    let rest: Vec<(String, u64)> = order
        .lines
        .iter()
        .filter(|l| u64::from(l.qty) > l.received)
        .map(|l| (l.sku.clone(), u64::from(l.qty) - l.received))
        .collect();
    ensure(!rest.is_empty(), || {
        format!("nothing of it is still awaited: {}", order.describe())
    })?;
    world
        .order_parcel_tracked(&tracking_number, &order, &rest)
        .await
}

#[then(regex = r#"^the parcel "(\w+)" is followed for that purchase order$"#)]
async fn parcel_followed(world: &mut Company, tracking_number: String) -> Outcome {
    let task = world
        .only_task_when("the tracking task to be taken up", |t| {
            t["kind"] == "shipment_tracking" && t["status"] == "in_progress"
        })
        .await?;
    let shipment = world
        .shipment_when(
            &tracking_number,
            &format!("the parcel {tracking_number} to be followed"),
            |_| true,
        )
        .await?;
    let po = world
        .order_when(
            shipment["po_id"].as_str().unwrap_or_default(),
            "the parcel's purchase order",
            |_| true,
        )
        .await?;
    let ordered = task["params"]["purchase_orders"].clone();
    ensure(
        po.erp_name
            .as_deref()
            .is_some_and(|name| ordered == json!([name])),
        || {
            format!(
                "the parcel should be followed for the order tracked ({ordered}): {shipment:#} {}",
                po.describe()
            )
        },
    )?;
    ensure(shipment["status"] == "pre_transit", || {
        format!("the carrier has only printed the label: {shipment:#}")
    })
}

#[when("the carrier moves its parcels one step on")]
async fn carrier_moves(world: &mut Company) -> Outcome {
    let moved = carrier_moves_on(world).await?;
    ensure(moved > 0, || {
        "the carrier had no parcel left to move".to_owned()
    })
}

/// Moves every parcel one step on; how many moved. The gateway must take
/// every webhook the carrier posts about them.
async fn carrier_moves_on(world: &Company) -> Result<usize, Failure> {
    let carrier = &world.demo()?.carrier;
    let before = carrier.deliveries().len();
    let moved = carrier.advance_all().await;
    let deliveries = carrier.deliveries();
    let posted = &deliveries[before.min(deliveries.len())..];
    ensure(
        posted.len() == moved
            && posted.iter().all(|d| {
                d.answered
                    .is_some_and(|status| (200..300).contains(&status))
            }),
        || format!("the gateway should take every webhook the carrier posted: {posted:#?}"),
    )?;
    Ok(moved)
}

#[then(
    regex = r#"^the CEO is asked whether to accept "([^"]*)" on parcel "(\w+)" and keep following it$"#
)]
async fn asked_about_alert(
    world: &mut Company,
    message: String,
    tracking_number: String,
) -> Outcome {
    let answer = world
        .os()?
        .get_until(
            "/api/v1/approvals?status=pending",
            &world.token("ceo")?,
            &format!("the CEO to be asked about parcel {tracking_number}"),
            |a| {
                a.status == 200
                    && a.json().is_ok_and(|list| {
                        list["approvals"].as_array().is_some_and(|all| {
                            all.iter().any(|x| x["requested_by"] == SHIPMENT_FOLLOWER)
                        })
                    })
            },
        )
        .await?;
    let list = answer.json()?;
    let asked: Vec<&Value> = list["approvals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["requested_by"] == SHIPMENT_FOLLOWER)
        .collect();
    let [approval] = asked.as_slice() else {
        return fail(format!("the CEO should be asked once: {asked:#?}"));
    };
    let (what, why) = (
        approval["what"].as_str().unwrap_or_default(),
        approval["why"].as_str().unwrap_or_default(),
    );
    ensure(
        what.contains(&tracking_number) && why.contains(&message),
        || {
            format!(
                "the approval should name parcel {tracking_number} and {message:?}: {approval:#}"
            )
        },
    )?;
    world.approval = approval["id"].as_str().map(str::to_owned);
    Ok(())
}

#[then("the tracking task waits for the CEO's decision")]
async fn tracking_waits(world: &mut Company) -> Outcome {
    let approval = world.approval_id()?;
    world
        .only_task_when("the tracking task to wait for the CEO", |t| {
            t["status"] == "awaiting_approval" && t["approval_id"] == approval.as_str()
        })
        .await
        .map(|_| ())
}

#[then("the tracking task goes on")]
async fn tracking_goes_on(world: &mut Company) -> Outcome {
    world
        .only_task_when("the tracking task to go on", |t| {
            t["status"] == "in_progress"
        })
        .await
        .map(|_| ())
}

#[then(regex = r#"^the logistics API shows parcel "(\w+)" held up with the alert "([^"]*)"$"#)]
async fn shipment_alert_shown(
    world: &mut Company,
    tracking_number: String,
    message: String,
) -> Outcome {
    world
        .shipment_when(
            &tracking_number,
            &format!("the parcel {tracking_number} to show its alert"),
            |s| {
                s["status"] == "exception"
                    && s["alerts"].as_array().is_some_and(|alerts| {
                        alerts.iter().any(|a| {
                            a["kind"] == "exception"
                                && a["reason"].as_str().is_some_and(|r| r.contains(&message))
                        })
                    })
            },
        )
        .await
        .map(|_| ())
}

#[then(
    regex = r#"^the goods of parcel "(\w+)" are received in ERPNext once, against its purchase order$"#
)]
async fn goods_received_once(world: &mut Company, tracking_number: String) -> Outcome {
    let shipment = world
        .shipment_when(
            &tracking_number,
            &format!("the parcel {tracking_number} to be delivered"),
            |s| s["status"] == "delivered",
        )
        .await?;
    let po_id = shipment["po_id"].as_str().unwrap_or_default().to_owned();
    let po = world
        .order_when(&po_id, "its purchase order's goods to be received", |po| {
            po.status == "received"
        })
        .await?;
    let erp_name = po.erp_name.clone().unwrap_or_default();
    let held = receipts(world.demo()?);
    let expected = receipt_rows(
        po.lines
            .iter()
            .map(|l| (erp_name.clone(), l.sku.clone(), f64::from(l.qty))),
    );
    ensure(held == vec![expected.clone()], || {
        format!(
            "ERPNext should hold one goods receipt for {erp_name}'s lines {expected:?}, holds {held:?}"
        )
    })
}

/// A goods receipt's rows as (purchase order, item, quantity), by item.
type ReceiptRows = Vec<(String, String, f64)>;

fn receipt_rows(rows: impl IntoIterator<Item = (String, String, f64)>) -> ReceiptRows {
    let mut rows: ReceiptRows = rows.into_iter().collect();
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    rows
}

/// Every goods receipt ERPNext holds, oldest first.
fn receipts(demo: &DemoCompany) -> Vec<ReceiptRows> {
    demo.erpnext
        .purchase_receipts()
        .iter()
        .map(|receipt| {
            receipt_rows(
                receipt["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|row| {
                        (
                            row["purchase_order"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            row["item_code"].as_str().unwrap_or_default().to_owned(),
                            row["qty"].as_f64().unwrap_or_default(),
                        )
                    }),
            )
        })
        .collect()
}

#[when("the carrier delivers its parcels")]
async fn carrier_delivers(world: &mut Company) -> Outcome {
    // The default journey has a handful of steps; a parcel still moving
    // after many more is a carrier that never delivers.
    for _ in 0..20 {
        let moved = carrier_moves_on(world).await?;
        if moved == 0 {
            return Ok(());
        }
    }
    fail("the carrier's parcels were still moving after 20 steps".to_owned())
}

/// The tracking directive's task once it has ended, completed or not.
async fn tracking_ended(world: &Company) -> Result<Value, Failure> {
    world
        .only_task_when("the tracking task to end", |t| {
            matches!(
                t["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
        .await
}

#[then(
    regex = r#"^the purchase order is partially received, with what parcel "(\w+)" carried received in ERPNext and the rest still awaited$"#
)]
async fn partially_received(world: &mut Company, tracking_number: String) -> Outcome {
    let task = tracking_ended(world).await?;
    ensure(task["status"] == "completed", || {
        format!("the tracking task should complete: {task:#}")
    })?;
    let carried = task["params"]["contents"].clone();
    let order = world
        .tracked_order_when(
            &format!("parcel {tracking_number}, carrying {carried}, to be partially received"),
            |o| o.status == "partially_received",
        )
        .await?;
    let erp_name = order.erp_name.clone().unwrap_or_default();
    let expected = receipt_rows(carried.as_array().into_iter().flatten().map(|c| {
        (
            erp_name.clone(),
            c["sku"].as_str().unwrap_or_default().to_owned(),
            c["quantity"].as_f64().unwrap_or_default(),
        )
    }));
    let held = receipts(world.demo()?);
    ensure(
        !expected.is_empty() && held == vec![expected.clone()],
        || {
            format!("ERPNext should hold one goods receipt of what parcel {tracking_number} carried, {expected:?}; holds {held:?}")
        },
    )?;
    let awaited: u64 = order
        .lines
        .iter()
        .map(|l| u64::from(l.qty).saturating_sub(l.received))
        .sum();
    let booked: f64 = expected.iter().map(|r| r.2).sum();
    let ordered: u64 = order.lines.iter().map(|l| u64::from(l.qty)).sum();
    ensure(awaited > 0 && (ordered - awaited) as f64 == booked, || {
        format!(
            "{booked} of {ordered} units are received, the rest awaited: {}",
            order.describe()
        )
    })
}

#[then("the purchase order is received in full, in one goods receipt per parcel")]
async fn received_in_full(world: &mut Company) -> Outcome {
    let task = tracking_ended(world).await?;
    ensure(task["status"] == "completed", || {
        format!("the tracking task should complete: {task:#}")
    })?;
    let order = world
        .tracked_order_when("the purchase order to be received", |o| {
            o.status == "received"
        })
        .await?;
    ensure(
        order.lines.iter().all(|l| l.received == u64::from(l.qty)),
        || {
            format!(
                "every line should be received exactly: {}",
                order.describe()
            )
        },
    )?;
    let erp_name = order.erp_name.clone().unwrap_or_default();
    let held = receipts(world.demo()?);
    ensure(held.len() == 2, || {
        format!("ERPNext should hold one goods receipt per parcel, holds {held:?}")
    })?;
    let mut total: BTreeMap<String, f64> = BTreeMap::new();
    for (po, sku, qty) in held.iter().flatten() {
        ensure(po == &erp_name, || {
            format!("every receipt should be against {erp_name}: {held:?}")
        })?;
        *total.entry(sku.clone()).or_default() += qty;
    }
    let ordered: BTreeMap<String, f64> = order
        .lines
        .iter()
        .map(|l| (l.sku.clone(), f64::from(l.qty)))
        .collect();
    ensure(total == ordered, || {
        format!("the receipts should add up to the order {ordered:?}: {held:?}")
    })
}
