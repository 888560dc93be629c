use chrono::{TimeZone, Utc};
use domain::planning::LlmUsage;
use domain::work::check_task;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;

/// Orders in these tests are given on Wednesday 15 July 2026.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 7, 15).expect("valid date")
}

/// A task as `(key, kind, params, depends_on)`.
type Outline = (String, String, Value, Vec<String>);

/// A plan's tasks, or the question.
fn outline(text: &str) -> Result<Vec<Outline>, String> {
    match plan_text(text, today()) {
        PlanOutcome::Plan { plan } => {
            plan.validate().expect("the planner's plans are valid");
            for task in &plan.tasks {
                check_task(task).expect("the planner's tasks are valid work");
            }
            Ok(plan
                .tasks
                .into_iter()
                .map(|t| (t.key, t.kind, t.params, t.depends_on))
                .collect())
        }
        PlanOutcome::Clarify { question } => Err(question),
    }
}

type Expected = &'static [(
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
)];

fn expect_plan(text: &str, expected: Expected) {
    let got = outline(text).unwrap_or_else(|q| panic!("{text:?} asked {q:?}"));
    let want: Vec<Outline> = expected
        .iter()
        .map(|(key, kind, params, deps)| {
            (
                (*key).to_owned(),
                (*kind).to_owned(),
                serde_json::from_str(params).expect("test params are JSON"),
                deps.iter().map(|d| (*d).to_owned()).collect(),
            )
        })
        .collect();
    assert_eq!(got, want, "{text:?}");
}

fn expect_question(text: &str, containing: &str) {
    match outline(text) {
        Err(question) => assert!(
            question.contains(containing),
            "{text:?}: {question:?} should contain {containing:?}"
        ),
        Ok(plan) => panic!("{text:?} should ask, planned {plan:?}"),
    }
}

#[test]
fn the_compound_order_becomes_three_dependent_tasks() {
    expect_plan(
        "Audit this month's invoices and pay the approved ones, then forecast cash for Q3",
        &[
            (
                "invoice_audit",
                "invoice_audit",
                r#"{"period":{"from":"2026-07-01","to":"2026-07-31"}}"#,
                &[],
            ),
            (
                "payment_run",
                "payment_run",
                r#"{"selection":"approved"}"#,
                &["invoice_audit"],
            ),
            (
                "cash_flow_forecast",
                "cash_flow_forecast",
                r#"{"horizon":{"period":{"from":"2026-07-01","to":"2026-09-30"}}}"#,
                &["payment_run"],
            ),
        ],
    );
}

#[test]
fn orders_become_plans() {
    let cases: &[(&str, Expected)] = &[
        (
            "Restock SKU-1042 x200 and ABC-123 (50 units) from Acme Corp by 2026-12-15",
            &[(
                "reorder",
                "reorder",
                r#"{"items":[{"sku":"SKU-1042","quantity":200},{"sku":"ABC-123","quantity":50}],
                    "supplier":"Acme Corp","deliver_by":"2026-12-15"}"#,
                &[],
            )],
        ),
        (
            "Reorder 200 BOX-M and CABLE-USB",
            &[(
                "reorder",
                "reorder",
                r#"{"items":[{"sku":"BOX-M","quantity":200},{"sku":"CABLE-USB"}]}"#,
                &[],
            )],
        ),
        (
            "order 200 units of sku-7 for €5,000",
            &[(
                "reorder",
                "reorder",
                r#"{"items":[{"sku":"SKU-7","quantity":200}],"budget":{"minor":500000,"currency":"EUR"}}"#,
                &[],
            )],
        ),
        (
            "replenish SKU 88 to warehouse North, 40 pcs",
            &[(
                "reorder",
                "reorder",
                r#"{"items":[{"sku":"SKU-88","quantity":40}],"warehouse":"North"}"#,
                &[],
            )],
        ),
        (
            "pay approved invoices up to $1,200.50",
            &[(
                "payment_run",
                "payment_run",
                r#"{"selection":"approved","amount_cap":{"minor":120050,"currency":"USD"}}"#,
                &[],
            )],
        ),
        (
            "Pay overdue invoices from Acme, max 5000 EUR",
            &[(
                "payment_run",
                "payment_run",
                r#"{"selection":"overdue","supplier":"Acme","amount_cap":{"minor":500000,"currency":"EUR"}}"#,
                &[],
            )],
        ),
        (
            "pay USD 300 to Globex Ltd",
            &[(
                "payment_run",
                "payment_run",
                r#"{"selection":"approved","supplier":"Globex Ltd","amount_cap":{"minor":30000,"currency":"USD"}}"#,
                &[],
            )],
        ),
        (
            "settle the approved bills, no more than €5k",
            &[(
                "payment_run",
                "payment_run",
                r#"{"selection":"approved","amount_cap":{"minor":500000,"currency":"EUR"}}"#,
                &[],
            )],
        ),
        (
            "pay invoice INV-2026-001 then track PO-4711",
            &[
                (
                    "payment_run",
                    "payment_run",
                    r#"{"selection":"approved","invoices":["INV-2026-001"]}"#,
                    &[],
                ),
                (
                    "shipment_tracking",
                    "shipment_tracking",
                    r#"{"purchase_orders":["PO-4711"]}"#,
                    &["payment_run"],
                ),
            ],
        ),
        (
            "forecast cash flow for the next 13 weeks",
            &[(
                "cash_flow_forecast",
                "cash_flow_forecast",
                r#"{"horizon":{"weeks":13}}"#,
                &[],
            )],
        ),
        (
            "What's our runway?",
            &[(
                "cash_flow_forecast",
                "cash_flow_forecast",
                r#"{"horizon":{"weeks":13}}"#,
                &[],
            )],
        ),
        (
            "forecast cash for Q3 2027 in USD",
            &[(
                "cash_flow_forecast",
                "cash_flow_forecast",
                r#"{"horizon":{"period":{"from":"2027-07-01","to":"2027-09-30"}},"currency":"USD"}"#,
                &[],
            )],
        ),
        (
            "project our cash position until 2026-12-31",
            &[(
                "cash_flow_forecast",
                "cash_flow_forecast",
                r#"{"horizon":{"period":{"from":"2026-07-15","to":"2026-12-31"}}}"#,
                &[],
            )],
        ),
        (
            "run a stock count in warehouse B",
            &[(
                "inventory_scan",
                "inventory_scan",
                r#"{"warehouse":"B"}"#,
                &[],
            )],
        ),
        (
            "scan inventory and reorder what is low",
            &[
                ("inventory_scan", "inventory_scan", "{}", &[]),
                ("reorder", "reorder", "{}", &["inventory_scan"]),
            ],
        ),
        (
            "Check our stock levels and reorder anything below the reorder point, budget €10,000",
            &[
                ("inventory_scan", "inventory_scan", "{}", &[]),
                (
                    "reorder",
                    "reorder",
                    r#"{"budget":{"minor":1000000,"currency":"EUR"}}"#,
                    &["inventory_scan"],
                ),
            ],
        ),
        (
            "scan inventory and reorder SKU-1 x 10",
            &[
                ("inventory_scan", "inventory_scan", "{}", &[]),
                (
                    "reorder",
                    "reorder",
                    r#"{"items":[{"sku":"SKU-1","quantity":10}]}"#,
                    &[],
                ),
            ],
        ),
        (
            "reorder SKU-9 and track the delivery",
            &[
                ("reorder", "reorder", r#"{"items":[{"sku":"SKU-9"}]}"#, &[]),
                ("shipment_tracking", "shipment_tracking", "{}", &["reorder"]),
            ],
        ),
        (
            "track PO-4711 and 1Z999AA10123456784",
            &[(
                "shipment_tracking",
                "shipment_tracking",
                r#"{"tracking_numbers":["1Z999AA10123456784"],"purchase_orders":["PO-4711"]}"#,
                &[],
            )],
        ),
        (
            "Track shipment 1Z999AA10123456784 for PUR-ORD-2026-00002 carrying 300 BOX-M and 36 TAPE-48",
            &[(
                "shipment_tracking",
                "shipment_tracking",
                r#"{"tracking_numbers":["1Z999AA10123456784"],"purchase_orders":["PUR-ORD-2026-00002"],"contents":[{"sku":"BOX-M","quantity":300},{"sku":"TAPE-48","quantity":36}]}"#,
                &[],
            )],
        ),
        (
            "Track shipment 1Z999AA10123456784 for purchase order PUR-ORD-2026-00002",
            &[(
                "shipment_tracking",
                "shipment_tracking",
                r#"{"tracking_numbers":["1Z999AA10123456784"],"purchase_orders":["PUR-ORD-2026-00002"]}"#,
                &[],
            )],
        ),
        (
            "Where are the deliveries from Acme Corp due next week?",
            &[(
                "shipment_tracking",
                "shipment_tracking",
                r#"{"supplier":"Acme Corp","period":{"from":"2026-07-20","to":"2026-07-26"}}"#,
                &[],
            )],
        ),
        (
            "audit last month's invoices for duplicates",
            &[(
                "invoice_audit",
                "invoice_audit",
                r#"{"period":{"from":"2026-06-01","to":"2026-06-30"},"checks":["duplicates"]}"#,
                &[],
            )],
        ),
        (
            "Audit invoices between 2026-06-01 and 2026-06-15",
            &[(
                "invoice_audit",
                "invoice_audit",
                r#"{"period":{"from":"2026-06-01","to":"2026-06-15"}}"#,
                &[],
            )],
        ),
        (
            "check inventory and invoices",
            &[
                ("inventory_scan", "inventory_scan", "{}", &[]),
                ("invoice_audit", "invoice_audit", "{}", &[]),
            ],
        ),
        (
            "check the health of the relay",
            &[(
                "health_check",
                "health_check",
                r#"{"components":["relay"]}"#,
                &[],
            )],
        ),
        (
            "Check health of everything",
            &[("health_check", "health_check", "{}", &[])],
        ),
        (
            "restart the gateway",
            &[(
                "restart",
                "restart",
                r#"{"component":"gateway","only_if_unhealthy":false}"#,
                &[],
            )],
        ),
        (
            "bounce the NATS bus if it is down",
            &[(
                "restart",
                "restart",
                r#"{"component":"bus","only_if_unhealthy":true}"#,
                &[],
            )],
        ),
        (
            "fix the relay",
            &[
                (
                    "health_check",
                    "health_check",
                    r#"{"components":["relay"]}"#,
                    &[],
                ),
                (
                    "restart",
                    "restart",
                    r#"{"component":"relay","only_if_unhealthy":true}"#,
                    &["health_check"],
                ),
            ],
        ),
        (
            "schedule maintenance for Saturday",
            &[(
                "maintenance",
                "maintenance",
                r#"{"window":{"from":"2026-07-18","to":"2026-07-18"}}"#,
                &[],
            )],
        ),
        (
            "vacuum the database",
            &[(
                "maintenance",
                "maintenance",
                r#"{"jobs":["vacuum_database"],"components":["database"]}"#,
                &[],
            )],
        ),
        (
            "deploy v1.4.2 to staging",
            &[(
                "deploy",
                "deploy",
                r#"{"version":"v1.4.2","environment":"staging"}"#,
                &[],
            )],
        ),
        (
            "deploy 2.0.1, then run a health check",
            &[
                (
                    "deploy",
                    "deploy",
                    r#"{"version":"2.0.1","environment":"production"}"#,
                    &[],
                ),
                ("health_check", "health_check", "{}", &["deploy"]),
            ],
        ),
        (
            "restart the relay and the gateway",
            &[
                (
                    "restart",
                    "restart",
                    r#"{"component":"relay","only_if_unhealthy":false}"#,
                    &[],
                ),
                (
                    "restart_2",
                    "restart",
                    r#"{"component":"gateway","only_if_unhealthy":false}"#,
                    &[],
                ),
            ],
        ),
    ];
    for (text, expected) in cases {
        expect_plan(text, expected);
    }
}

#[test]
fn unclear_orders_become_questions() {
    let cases = [
        ("blorp the fnord", "did not understand \"blorp the fnord\""),
        ("   \n\t ", "The order is empty"),
        ("", "The order is empty"),
        ("audit invoices and sing a song", "\"sing a song\""),
        ("don't pay Acme", "says what not to do"),
        ("pay the approved ones but not Acme Corp", "not Acme Corp"),
        ("restart", "Which component should I restart"),
        ("fix it", "What should I fix"),
        (
            "order 200 units from Acme",
            "Which SKU should the 200 units",
        ),
        ("reorder the blue widgets", "\"blue widgets\""),
        // A hyphenated word in lower case is a word, not a SKU.
        ("reorder the follow-up", "\"follow-up\""),
        ("check the relay for €300", "300.00 EUR"),
        ("audit invoices and payments", "\"payments\""),
        ("deploy 1.2 then", "ends with \"then\""),
        (
            "restock SKU-1, and after that",
            "ends with \"and after that\"",
        ),
        ("forecast cash for the next 200 weeks", "How far ahead"),
    ];
    for (text, containing) in cases {
        expect_question(text, containing);
    }
}

#[test]
fn every_question_names_what_the_planner_can_do_when_nothing_was_understood() {
    let Err(question) = outline("make it so") else {
        panic!("a question");
    };
    assert!(question.contains(CAPABILITIES), "{question}");
}

#[test]
fn entities_are_read_at_the_edges() {
    let r = |text: &str| read::read(&text::segments(text)[0].words, today());
    assert_eq!(r("$1,200.50").amounts[0].minor, 120_050);
    assert_eq!(r("5,000€").amounts[0].minor, 500_000);
    assert_eq!(r("USD 300").amounts[0].to_string(), "300.00 USD");
    assert_eq!(r("JPY 300").amounts[0].minor, 300);
    assert_eq!(r("1.5k gbp").amounts[0].to_string(), "1500.00 GBP");
    assert!(r("1.234 EUR").amounts.is_empty(), "finer than cents");
    assert_eq!(r("SKU-1 x50").skus[0].quantity.map(|q| q.get()), Some(50));
    assert_eq!(r("50 SKU-1").skus[0].quantity.map(|q| q.get()), Some(50));
    assert_eq!(r("ABC-123").skus[0].sku.as_str(), "ABC-123");
    assert!(r("13-week").skus.is_empty());
    assert_eq!(r("13-week").when, [When::Weeks(13)]);
    assert_eq!(r("next thirteen weeks").when, [When::Weeks(13)]);
    let span = |from: &str, to: &str| {
        When::Span(
            Period::new(from.parse().expect("date"), to.parse().expect("date")).expect("period"),
        )
    };
    assert_eq!(r("last quarter").when, [span("2026-04-01", "2026-06-30")]);
    assert_eq!(r("next month").when, [span("2026-08-01", "2026-08-31")]);
    assert_eq!(r("this week").when, [span("2026-07-13", "2026-07-19")]);
    assert_eq!(r("past 30 days").when, [span("2026-06-15", "2026-07-15")]);
    assert_eq!(r("ytd").when, [span("2026-01-01", "2026-07-15")]);
    assert_eq!(r("in May").when, [span("2026-05-01", "2026-05-31")]);
    assert!(r("you may").when.is_empty(), "a verb, not a month");
    assert_eq!(
        r("by Dec 15").when,
        [When::Deadline("2026-12-15".parse().expect("date"))]
    );
    assert_eq!(
        r("on 3rd of March 2027").when,
        [When::Day("2027-03-03".parse().expect("date"))]
    );
    assert_eq!(
        r("end of the month").when,
        [When::Day("2026-07-31".parse().expect("date"))]
    );
    assert_eq!(
        r("next friday").when,
        [When::Day("2026-07-17".parse().expect("date"))]
    );
    assert_eq!(
        r("from Acme Corp by friday")
            .supplier
            .map(|s| s.to_string()),
        Some("Acme Corp".into())
    );
    assert_eq!(r("from last month").supplier, None);
    assert_eq!(r("track 1Z999AA10123456784").tracking.len(), 1);
}

#[test]
fn a_clarification_completes_the_order() {
    let request = PlanRequest {
        directive_id: Uuid::nil(),
        text: "restart".to_owned(),
        issued_at: Utc
            .with_ymd_and_hms(2026, 7, 15, 9, 0, 0)
            .single()
            .expect("valid"),
        spending_limit: None,
        clarification: None,
        llm_spent: LlmUsage::default(),
    };
    let first = RulePlanner::new().answer(&request);
    assert!(matches!(first.outcome, PlanOutcome::Clarify { .. }));
    assert!(first.raw_answer.starts_with("{\"question\""));
    assert_eq!(first.prompt_digest, sha256_hex(b"restart"));
    let answered = PlanRequest {
        clarification: Some("the relay".to_owned()),
        ..request
    };
    let second = RulePlanner::new().answer(&answered);
    let PlanOutcome::Plan { plan } = &second.outcome else {
        panic!("a plan: {second:?}");
    };
    assert_eq!(plan.tasks[0].kind, "restart");
    assert_eq!(second.planner, "rules");
    assert_eq!(second.model, None);
    assert_eq!(second.usage, None);
    assert_eq!(second.prompt_digest, sha256_hex(b"restart the relay"));
    let raw: Value = serde_json::from_str(&second.raw_answer).expect("raw answer is JSON");
    assert_eq!(raw, json!({ "tasks": plan.tasks }));
}

const VOCABULARY: &[&str] = &[
    "restock",
    "reorder",
    "SKU-1042",
    "ABC-123",
    "x50",
    "200",
    "units",
    "of",
    "from",
    "Acme",
    "Corp",
    "by",
    "2026-12-15",
    "€5,000",
    "5000",
    "EUR",
    "$1,200.50",
    "USD",
    "300",
    "pay",
    "the",
    "approved",
    "ones",
    "audit",
    "invoices",
    "duplicates",
    "this",
    "month",
    "last",
    "Q3",
    "next",
    "13",
    "weeks",
    "forecast",
    "cash",
    "runway",
    "track",
    "PO-4711",
    "delivery",
    "check",
    "health",
    "restart",
    "relay",
    "gateway",
    "fix",
    "deploy",
    "v1.4.2",
    "staging",
    "maintenance",
    "vacuum",
    "inventory",
    "stock",
    "count",
    "and",
    "then",
    ",",
    ";",
    ".",
    "after",
    "that",
    "don't",
    "if",
    "unhealthy",
    "between",
    "to",
    "may",
    "friday",
    "end",
    "warehouse",
    "B",
    "blorp",
    "1Z999AA10123456784",
    "INV-7",
    "k",
    "-",
    "x",
    "sku",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..14).prop_map(|w| w.join(" "))
}

fn check_answer(text: &str) -> Result<(), TestCaseError> {
    let first = plan_text(text, today());
    let second = plan_text(text, today());
    prop_assert_eq!(&first, &second, "deterministic");
    match first {
        PlanOutcome::Plan { plan } => {
            prop_assert!(plan.validate().is_ok(), "{:?}", plan);
            for task in &plan.tasks {
                prop_assert!(check_task(task).is_ok(), "{:?}", task);
            }
        }
        PlanOutcome::Clarify { question } => prop_assert!(!question.is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text: no panic, the same answer twice, and any plan is valid.
    #[test]
    fn any_text_gets_a_valid_answer(text in ".{0,160}") {
        check_answer(&text)?;
    }

    /// Orders made of the vocabulary reach deep into the reader.
    #[test]
    fn vocabulary_soup_gets_a_valid_answer(text in soup()) {
        check_answer(&text)?;
    }
}
