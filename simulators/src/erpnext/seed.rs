//! Ready-made companies: a small one for the demo and the tests, and a
//! generated one of any size for benchmarks.

use chrono::{Duration, Utc};
use serde_json::json;

use super::{ErpNextSim, Item, SeedError, Stock, STORES};

/// The demo's second warehouse (finished and packaging goods).
const MAIN: &str = "Main Warehouse - AC";

const NORDIC: &str = "Nordic Fasteners AB";
const IBERIA: &str = "Iberia Packaging SL";
const RHEIN: &str = "Rhein Elektronik GmbH";

/// The demo company's item levels below their reorder level, judged as
/// ERPNext's reorder does (on `projected_qty`): item, warehouse, and how
/// far below the level its projected quantity is.
///
/// `PCB-CTRL` has only 12 on hand in `Stores - AC` against a level of 40,
/// but an open purchase order of 100 brings its projected quantity to 112,
/// so it is not below; `BOX-M` has 400 on hand above its level of 250, but
/// 180 reserved bring it to 220.
pub const DEMO_BELOW_REORDER: &[(&str, &str, f64)] = &[
    ("BOX-M", MAIN, 30.0),
    ("BOX-S", MAIN, 180.0),
    ("CABLE-USB", STORES, 60.0),
    ("FAST-M4-20", STORES, 360.0),
    ("LABEL-A6", MAIN, 12.0),
    ("NUT-M4", STORES, 200.0),
    ("TAPE-48", MAIN, 4.0),
];

/// Days of use the demo company's ledger holds.
pub const DEMO_HISTORY_DAYS: u32 = 28;

/// A daily use that makes `level` the reorder point for a lead time of
/// `lead_days` at a 95 % service level with ±25 % daily swings: level ÷
/// (L + 1.65 × 0.25 × √L).
fn steady_use(level: f64, lead_days: u32) -> f64 {
    let lead = f64::from(lead_days.max(1));
    level / (lead + 1.65 * 0.25 * lead.sqrt())
}

/// The warehouses of a generated company, in the order they are used.
pub const GENERATED_WAREHOUSES: [&str; 5] = [
    "Stores - AC",
    "Work In Progress - AC",
    "Finished Goods - AC",
    "Goods In Transit - AC",
    "Main Warehouse - AC",
];

/// An item of the demo: reorder levels and stock (warehouse, level,
/// quantity to order, on hand, reserved).
struct DemoItem {
    code: &'static str,
    name: &'static str,
    uom: &'static str,
    min_order_qty: f64,
    pack: f64,
    lead_days: u32,
    supplier: &'static str,
    /// The last purchase rate, in euros.
    rate: f64,
    levels: &'static [(&'static str, f64, f64, f64, f64)],
}

const DEMO_ITEMS: [DemoItem; 12] = [
    DemoItem {
        code: "FAST-M4-20",
        name: "Hex bolt M4×20, zinc plated",
        uom: "Nos",
        min_order_qty: 500.0,
        pack: 100.0,
        lead_days: 5,
        supplier: NORDIC,
        rate: 0.06,
        levels: &[(STORES, 1000.0, 2000.0, 640.0, 0.0)],
    },
    DemoItem {
        code: "FAST-M6-30",
        name: "Hex bolt M6×30, zinc plated",
        uom: "Nos",
        min_order_qty: 500.0,
        pack: 100.0,
        lead_days: 5,
        supplier: NORDIC,
        rate: 0.09,
        levels: &[(STORES, 800.0, 1600.0, 2400.0, 0.0)],
    },
    DemoItem {
        code: "NUT-M4",
        name: "Hex nut M4",
        uom: "Nos",
        min_order_qty: 1000.0,
        pack: 500.0,
        lead_days: 5,
        supplier: NORDIC,
        rate: 0.02,
        levels: &[(STORES, 2000.0, 5000.0, 1800.0, 0.0)],
    },
    DemoItem {
        code: "WASH-M6",
        name: "Flat washer M6",
        uom: "Nos",
        min_order_qty: 1000.0,
        pack: 500.0,
        lead_days: 5,
        supplier: NORDIC,
        rate: 0.01,
        levels: &[(STORES, 1500.0, 3000.0, 4200.0, 300.0)],
    },
    DemoItem {
        code: "BOX-S",
        name: "Shipping box S (200×150×100 mm)",
        uom: "Nos",
        min_order_qty: 200.0,
        pack: 50.0,
        lead_days: 10,
        supplier: IBERIA,
        rate: 0.45,
        levels: &[(MAIN, 300.0, 600.0, 120.0, 0.0)],
    },
    DemoItem {
        code: "BOX-M",
        name: "Shipping box M (300×200×150 mm)",
        uom: "Nos",
        min_order_qty: 200.0,
        pack: 50.0,
        lead_days: 10,
        supplier: IBERIA,
        rate: 0.7,
        levels: &[(MAIN, 250.0, 500.0, 400.0, 180.0)],
    },
    DemoItem {
        code: "TAPE-48",
        name: "Packing tape 48 mm × 66 m",
        uom: "Roll",
        min_order_qty: 36.0,
        pack: 36.0,
        lead_days: 10,
        supplier: IBERIA,
        rate: 1.8,
        levels: &[(MAIN, 100.0, 216.0, 96.0, 0.0)],
    },
    DemoItem {
        code: "FOAM-10",
        name: "Foam sheet 10 mm",
        uom: "Nos",
        min_order_qty: 25.0,
        pack: 25.0,
        lead_days: 10,
        supplier: IBERIA,
        rate: 3.5,
        levels: &[(MAIN, 60.0, 120.0, 75.0, 0.0)],
    },
    DemoItem {
        code: "PCB-CTRL",
        name: "Controller board v2",
        uom: "Nos",
        min_order_qty: 50.0,
        pack: 10.0,
        lead_days: 21,
        supplier: RHEIN,
        rate: 38.5,
        levels: &[(STORES, 40.0, 100.0, 12.0, 0.0)],
    },
    DemoItem {
        code: "CABLE-USB",
        name: "USB-C cable 1 m",
        uom: "Nos",
        min_order_qty: 100.0,
        pack: 20.0,
        lead_days: 14,
        supplier: RHEIN,
        rate: 2.4,
        levels: &[
            (STORES, 150.0, 300.0, 90.0, 0.0),
            (MAIN, 50.0, 100.0, 70.0, 0.0),
        ],
    },
    DemoItem {
        code: "PSU-12V",
        name: "Power supply 12 V 2 A",
        uom: "Nos",
        min_order_qty: 20.0,
        pack: 5.0,
        lead_days: 14,
        supplier: RHEIN,
        rate: 11.9,
        levels: &[(STORES, 30.0, 60.0, 45.0, 0.0)],
    },
    DemoItem {
        code: "LABEL-A6",
        name: "Thermal labels A6, roll of 500",
        uom: "Roll",
        min_order_qty: 10.0,
        pack: 10.0,
        lead_days: 10,
        supplier: IBERIA,
        rate: 0.03,
        levels: &[(MAIN, 20.0, 40.0, 8.0, 0.0)],
    },
];

impl ErpNextSim {
    /// Acme Components: 12 items in `Stores - AC` and `Main Warehouse -
    /// AC`, from 3 suppliers (Nordic Fasteners AB, 5 days; Iberia Packaging
    /// SL, 10 days; Rhein Elektronik GmbH, 14 days), with one open,
    /// submitted purchase order (100 × `PCB-CTRL`); the levels below
    /// reorder are [`DEMO_BELOW_REORDER`].
    pub fn demo_company(api_key: &str, api_secret: &str) -> Result<Self, SeedError> {
        let sim = ErpNextSim::new(api_key, api_secret);
        sim.add_warehouse("Main Warehouse")?;
        sim.add_supplier(NORDIC, Some(5))?;
        sim.add_supplier(IBERIA, Some(10))?;
        sim.add_supplier(RHEIN, Some(14))?;
        for demo in &DEMO_ITEMS {
            let mut item = Item::new(demo.code, demo.name, demo.uom)
                .ordering(demo.min_order_qty, demo.pack)
                .supplier(demo.supplier)
                .rate(demo.rate);
            item.lead_time_days = demo.lead_days;
            for (warehouse, level, qty, _, _) in demo.levels {
                item = item.reorder(warehouse, *level, *qty);
            }
            sim.add_item(&item)?;
            for (warehouse, _, _, on_hand, reserved) in demo.levels {
                let stock = Stock {
                    actual_qty: *on_hand,
                    reserved_qty: *reserved,
                    indented_qty: 0.0,
                };
                sim.set_bin(demo.code, warehouse, stock)?;
            }
        }
        let today = Utc::now().date_naive();
        for demo in &DEMO_ITEMS {
            for (warehouse, level, _, _, _) in demo.levels {
                let daily = steady_use(*level, demo.lead_days);
                let history: Vec<f64> = (0..DEMO_HISTORY_DAYS)
                    .map(|day| {
                        let swing = if day % 2 == 0 { 1.25 } else { 0.75 };
                        (daily * swing).round()
                    })
                    .collect();
                sim.record_consumption(demo.code, warehouse, &history, today)?;
            }
        }
        sim.insert(
            "Purchase Order",
            &json!({
                "supplier": RHEIN,
                "transaction_date": today.to_string(),
                "set_warehouse": STORES,
                "items": [{"item_code": "PCB-CTRL", "qty": 100, "rate": 38.5,
                           "schedule_date": (today + Duration::days(21)).to_string()}],
                "docstatus": 1,
            }),
        )?;
        Ok(sim)
    }

    /// Records `days` days of use of every item in every warehouse where it
    /// has a reorder level, as Stock Ledger Entries up to `until`: about
    /// what keeps the level a lead time's worth of stock, ±25 % a day.
    pub fn record_typical_use(
        &self,
        days: u32,
        until: chrono::NaiveDate,
        seed: u64,
    ) -> Result<usize, SeedError> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut recorded = 0;
        for item in self.docs("Item") {
            let code = item["item_code"].as_str().unwrap_or_default().to_owned();
            let lead = item["lead_time_days"].as_u64().unwrap_or(7);
            let levels = item["reorder_levels"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for level in levels {
                let warehouse = level["warehouse"].as_str().unwrap_or_default();
                let reorder = level["warehouse_reorder_level"].as_f64().unwrap_or(0.0);
                let daily = steady_use(reorder, u32::try_from(lead).unwrap_or(7));
                let history: Vec<f64> = (0..days)
                    .map(|_| (daily * (0.75 + rng.f64() * 0.5)).round())
                    .collect();
                recorded += self.record_consumption(&code, warehouse, &history, until)?;
            }
        }
        Ok(recorded)
    }

    /// A company of `items` items (`ITEM-00001` …), each with a reorder
    /// level and a Bin in each of `warehouses` warehouses
    /// ([`GENERATED_WAREHOUSES`] first, then `Warehouse 6 - AC` …), one
    /// supplier per 400 items (at least one, at most 50); about one level
    /// in five is below reorder. The same `seed` gives the same company.
    pub fn generated(
        api_key: &str,
        api_secret: &str,
        items: usize,
        warehouses: usize,
        seed: u64,
    ) -> Result<Self, SeedError> {
        let sim = ErpNextSim::seeded(api_key, api_secret, seed);
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut names = Vec::with_capacity(warehouses);
        for n in 0..warehouses {
            let name = match GENERATED_WAREHOUSES.get(n) {
                Some(name) => (*name).to_owned(),
                None => format!("Warehouse {} - AC", n + 1),
            };
            if sim.doc("Warehouse", &name).is_none() {
                let short = name.trim_end_matches(" - AC");
                sim.add_warehouse(short)?;
            }
            names.push(name);
        }
        let suppliers: Vec<String> = (1..=(items / 400).clamp(1, 50))
            .map(|n| sim.add_supplier(&format!("Supplier {n:03}"), Some(rng.u32(3..=30))))
            .collect::<Result<_, _>>()?;
        const PACKS: [f64; 8] = [1.0, 5.0, 10.0, 12.0, 20.0, 25.0, 50.0, 100.0];
        for n in 1..=items {
            let code = format!("ITEM-{n:05}");
            let pack = PACKS[rng.usize(..PACKS.len())];
            let mut item = Item::new(&code, &format!("Generated item {n}"), "Nos")
                .ordering(pack * f64::from(rng.u8(1..=4)), pack)
                .supplier(&suppliers[rng.usize(..suppliers.len())])
                .rate(f64::from(rng.u32(5..=50_000)) / 100.0);
            item.lead_time_days = rng.u32(2..=30);
            let mut stock = Vec::with_capacity(names.len());
            for warehouse in &names {
                let level = f64::from(rng.u32(10..=500));
                item = item.reorder(warehouse, level, level * 2.0);
                let on_hand = if rng.u8(..5) == 0 {
                    f64::from(rng.u32(0..level as u32))
                } else {
                    f64::from(rng.u32(level as u32..=level as u32 * 4))
                };
                let reserved = if rng.u8(..10) == 0 {
                    f64::from(rng.u32(0..=level as u32 / 4))
                } else {
                    0.0
                };
                stock.push((warehouse, on_hand, reserved));
            }
            sim.add_item(&item)?;
            for (warehouse, on_hand, reserved) in stock {
                let stock = Stock {
                    actual_qty: on_hand,
                    reserved_qty: reserved,
                    indented_qty: 0.0,
                };
                sim.set_bin(&code, warehouse, stock)?;
            }
        }
        Ok(sim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_company_is_below_reorder_where_it_says() -> Result<(), SeedError> {
        let sim = ErpNextSim::demo_company("k", "s")?;
        let mut below = Vec::new();
        for demo in &DEMO_ITEMS {
            for (warehouse, level, _, _, _) in demo.levels {
                let bin = sim.bin(demo.code, warehouse).unwrap_or_default();
                let projected = bin["projected_qty"].as_f64().unwrap_or_default();
                if projected < *level {
                    below.push((demo.code, *warehouse, level - projected));
                }
            }
        }
        below.sort_by(|a, b| a.0.cmp(b.0));
        assert_eq!(below, DEMO_BELOW_REORDER);
        let pcb = sim.bin("PCB-CTRL", STORES).unwrap_or_default();
        assert_eq!(pcb["ordered_qty"], 100.0);
        assert_eq!(sim.purchase_orders().len(), 1);
        Ok(())
    }

    #[test]
    fn a_generated_company_is_the_same_for_the_same_seed() -> Result<(), SeedError> {
        let a = ErpNextSim::generated("k", "s", 50, 6, 7)?;
        let b = ErpNextSim::generated("k", "s", 50, 6, 7)?;
        assert_eq!(a.docs("Item").len(), 50);
        assert_eq!(a.docs("Bin").len(), 300);
        let qty = |sim: &ErpNextSim| {
            sim.bin("ITEM-00042", "Warehouse 6 - AC")
                .map(|b| b["actual_qty"].clone())
        };
        assert_eq!(qty(&a), qty(&b));
        assert!(qty(&a).is_some());
        Ok(())
    }
}
