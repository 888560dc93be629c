//! The DocTypes the simulator knows, as ERPNext defines them (the fields an
//! integration reads or writes, not every field of the real forms).
//!
//! Custom fields carry the `custom_` prefix that Frappe (v14 and later)
//! gives a field added through Customize Form: `custom_agentos_po_id` on
//! Purchase Order and `custom_agentos_receipt_id` on Purchase Receipt (both
//! Data, *Unique*), `custom_pack_size` on Item (Float) and
//! `custom_lead_time_days` on Supplier (Int).

/// A field's type, as Frappe names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Data,
    /// A link to a document of that DocType.
    Link(&'static str),
    Select,
    Int,
    Float,
    /// 0 or 1.
    Check,
    /// `YYYY-MM-DD`.
    Date,
    /// A child table of that DocType.
    Table(&'static str),
}

/// One field of a DocType.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    pub reqd: bool,
    pub unique: bool,
    /// The default on insert ("" for none), read as the field's kind.
    pub default: &'static str,
}

const fn f(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        reqd: false,
        unique: false,
        default: "",
    }
}

impl Field {
    const fn reqd(mut self) -> Self {
        self.reqd = true;
        self
    }

    const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    const fn default(mut self, value: &'static str) -> Self {
        self.default = value;
        self
    }
}

/// How a new document gets its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// The value of that field (`field:item_code`).
    Field(&'static str),
    /// A naming series such as `PUR-ORD-.YYYY.-`: the prefix, the year of
    /// the document's date field, and a five-digit counter.
    Series {
        prefix: &'static str,
        date_field: &'static str,
    },
    /// `{warehouse_name} - {company abbreviation}`.
    Warehouse,
    /// A random 10-character hash (child rows, Bin).
    Hash,
}

/// A DocType.
#[derive(Debug)]
pub(crate) struct DocType {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub naming: Naming,
    pub submittable: bool,
    pub child: bool,
    /// Whether the API user may create such documents.
    pub creatable: bool,
}

impl DocType {
    pub fn field(&self, name: &str) -> Option<(usize, &'static Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// The table fields, in order; a document keeps one list of rows each.
    pub fn tables(&self) -> impl Iterator<Item = &'static Field> {
        self.fields
            .iter()
            .filter(|f| matches!(f.kind, Kind::Table(_)))
    }

    pub fn table_position(&self, name: &str) -> Option<usize> {
        self.tables().position(|f| f.name == name)
    }

    pub fn label(&self, name: &str) -> &'static str {
        self.field(name).map_or("Name", |(_, f)| f.label)
    }
}

use Kind::{Check, Data, Date, Float, Int, Link, Select, Table};

pub(crate) static COMPANY: DocType = DocType {
    name: "Company",
    fields: &[
        f("company_name", "Company", Data).reqd().unique(),
        f("abbr", "Abbr", Data).reqd(),
        f("default_currency", "Default Currency", Data).default("EUR"),
    ],
    naming: Naming::Field("company_name"),
    submittable: false,
    child: false,
    creatable: false,
};

pub(crate) static UOM: DocType = DocType {
    name: "UOM",
    fields: &[
        f("uom_name", "UOM Name", Data).reqd().unique(),
        f("must_be_whole_number", "Must be Whole Number", Check),
    ],
    naming: Naming::Field("uom_name"),
    submittable: false,
    child: false,
    creatable: false,
};

pub(crate) static WAREHOUSE: DocType = DocType {
    name: "Warehouse",
    fields: &[
        f("warehouse_name", "Warehouse Name", Data).reqd(),
        f("company", "Company", Link("Company")).reqd(),
        f("is_group", "Is Group Warehouse", Check),
        f("disabled", "Disabled", Check),
    ],
    naming: Naming::Warehouse,
    submittable: false,
    child: false,
    creatable: true,
};

pub(crate) static ITEM: DocType = DocType {
    name: "Item",
    fields: &[
        f("item_code", "Item Code", Data).reqd().unique(),
        f("item_name", "Item Name", Data),
        f("item_group", "Item Group", Data).default("All Item Groups"),
        f("stock_uom", "Default Unit of Measure", Link("UOM")).reqd(),
        f("is_stock_item", "Maintain Stock", Check).default("1"),
        f("disabled", "Disabled", Check),
        f("min_order_qty", "Minimum Order Qty", Float),
        f("safety_stock", "Safety Stock", Float),
        f("lead_time_days", "Lead Time in days", Int),
        f("custom_pack_size", "Pack Size", Float),
        f("last_purchase_rate", "Last Purchase Rate", Float),
        f(
            "reorder_levels",
            "Reorder level based on Warehouse",
            Table("Item Reorder"),
        ),
        f("item_defaults", "Item Defaults", Table("Item Default")),
    ],
    naming: Naming::Field("item_code"),
    submittable: false,
    child: false,
    creatable: true,
};

pub(crate) static ITEM_REORDER: DocType = DocType {
    name: "Item Reorder",
    fields: &[
        f("warehouse", "Request for", Link("Warehouse")).reqd(),
        f("warehouse_group", "Check in (group)", Link("Warehouse")),
        f("warehouse_reorder_level", "Re-order Level", Float),
        f("warehouse_reorder_qty", "Re-order Qty", Float),
        f("material_request_type", "Material Request Type", Select)
            .reqd()
            .default("Purchase"),
    ],
    naming: Naming::Hash,
    submittable: false,
    child: true,
    creatable: false,
};

pub(crate) static ITEM_DEFAULT: DocType = DocType {
    name: "Item Default",
    fields: &[
        f("company", "Company", Link("Company")).reqd(),
        f("default_warehouse", "Default Warehouse", Link("Warehouse")),
        f("default_supplier", "Default Supplier", Link("Supplier")),
    ],
    naming: Naming::Hash,
    submittable: false,
    child: true,
    creatable: false,
};

pub(crate) static SUPPLIER: DocType = DocType {
    name: "Supplier",
    fields: &[
        f("supplier_name", "Supplier Name", Data).reqd(),
        f("supplier_group", "Supplier Group", Data).default("All Supplier Groups"),
        f("supplier_type", "Supplier Type", Select).default("Company"),
        f("country", "Country", Data),
        f("disabled", "Disabled", Check),
        f("custom_lead_time_days", "Lead Time Days", Int),
    ],
    naming: Naming::Field("supplier_name"),
    submittable: false,
    child: false,
    creatable: true,
};

pub(crate) static BIN: DocType = DocType {
    name: "Bin",
    fields: &[
        f("item_code", "Item Code", Link("Item")).reqd(),
        f("warehouse", "Warehouse", Link("Warehouse")).reqd(),
        f("actual_qty", "Actual Quantity", Float),
        f("ordered_qty", "Ordered Quantity", Float),
        f("indented_qty", "Requested Quantity", Float),
        f("planned_qty", "Planned Qty", Float),
        f("reserved_qty", "Reserved Quantity", Float),
        f(
            "reserved_qty_for_production",
            "Reserved Qty for Production",
            Float,
        ),
        f(
            "reserved_qty_for_sub_contract",
            "Reserved Qty for Subcontract",
            Float,
        ),
        f("projected_qty", "Projected Qty", Float),
        f("stock_uom", "UOM", Link("UOM")),
    ],
    naming: Naming::Hash,
    submittable: false,
    child: false,
    creatable: false,
};

pub(crate) static PURCHASE_ORDER: DocType = DocType {
    name: "Purchase Order",
    fields: &[
        f("naming_series", "Series", Select).default("PUR-ORD-.YYYY.-"),
        f("supplier", "Supplier", Link("Supplier")).reqd(),
        f("supplier_name", "Supplier Name", Data),
        f("company", "Company", Link("Company")).reqd(),
        f("transaction_date", "Date", Date).reqd(),
        f("schedule_date", "Required By", Date),
        f("set_warehouse", "Set Target Warehouse", Link("Warehouse")),
        f("currency", "Currency", Data),
        f("status", "Status", Select).default("Draft"),
        f("per_received", "% Received", Float),
        f("per_billed", "% Billed", Float),
        f("total_qty", "Total Quantity", Float),
        f("total", "Total", Float),
        f("grand_total", "Grand Total", Float),
        f("custom_agentos_po_id", "AgentOS PO ID", Data).unique(),
        f("items", "Items", Table("Purchase Order Item")).reqd(),
    ],
    naming: Naming::Series {
        prefix: "PUR-ORD-",
        date_field: "transaction_date",
    },
    submittable: true,
    child: false,
    creatable: true,
};

pub(crate) static PURCHASE_ORDER_ITEM: DocType = DocType {
    name: "Purchase Order Item",
    fields: &[
        f("item_code", "Item Code", Link("Item")).reqd(),
        f("item_name", "Item Name", Data),
        f("schedule_date", "Required By", Date).reqd(),
        f("qty", "Quantity", Float).reqd(),
        f("stock_uom", "Stock UOM", Link("UOM")),
        f("uom", "UOM", Link("UOM")),
        f("conversion_factor", "UOM Conversion Factor", Float),
        f("stock_qty", "Total Quantity", Float),
        f("rate", "Rate", Float),
        f("amount", "Amount", Float),
        f("warehouse", "Set Target Warehouse", Link("Warehouse")),
        f("received_qty", "Received Qty", Float),
    ],
    naming: Naming::Hash,
    submittable: false,
    child: true,
    creatable: false,
};

pub(crate) static PURCHASE_RECEIPT: DocType = DocType {
    name: "Purchase Receipt",
    fields: &[
        f("naming_series", "Series", Select).default("MAT-PRE-.YYYY.-"),
        f("supplier", "Supplier", Link("Supplier")).reqd(),
        f("supplier_name", "Supplier Name", Data),
        f("company", "Company", Link("Company")).reqd(),
        f("posting_date", "Date", Date).reqd(),
        f("set_posting_time", "Edit Posting Date and Time", Check),
        f("set_warehouse", "Accepted Warehouse", Link("Warehouse")),
        f("status", "Status", Select).default("Draft"),
        f("per_billed", "% Amount Billed", Float),
        f("total_qty", "Total Quantity", Float),
        f("grand_total", "Grand Total", Float),
        f("custom_agentos_receipt_id", "AgentOS Receipt ID", Data).unique(),
        f("items", "Items", Table("Purchase Receipt Item")).reqd(),
    ],
    naming: Naming::Series {
        prefix: "MAT-PRE-",
        date_field: "posting_date",
    },
    submittable: true,
    child: false,
    creatable: true,
};

pub(crate) static PURCHASE_RECEIPT_ITEM: DocType = DocType {
    name: "Purchase Receipt Item",
    fields: &[
        f("item_code", "Item Code", Link("Item")).reqd(),
        f("item_name", "Item Name", Data),
        f("received_qty", "Received Quantity", Float),
        f("qty", "Accepted Quantity", Float),
        f("rejected_qty", "Rejected Quantity", Float),
        f("stock_uom", "Stock UOM", Link("UOM")),
        f("uom", "UOM", Link("UOM")),
        f("conversion_factor", "Conversion Factor", Float),
        f("rate", "Rate", Float),
        f("amount", "Amount", Float),
        f("warehouse", "Accepted Warehouse", Link("Warehouse")),
        f("purchase_order", "Purchase Order", Link("Purchase Order")),
        f("purchase_order_item", "Purchase Order Item", Data),
    ],
    naming: Naming::Hash,
    submittable: false,
    child: true,
    creatable: false,
};

pub(crate) static STOCK_LEDGER_ENTRY: DocType = DocType {
    name: "Stock Ledger Entry",
    fields: &[
        f("item_code", "Item Code", Link("Item")).reqd(),
        f("warehouse", "Warehouse", Link("Warehouse")).reqd(),
        f("posting_date", "Posting Date", Date).reqd(),
        f("actual_qty", "Qty Change", Float),
        f("voucher_type", "Voucher Type", Data),
        f("voucher_no", "Voucher No", Data),
        f("is_cancelled", "Is Cancelled", Check),
    ],
    naming: Naming::Hash,
    submittable: false,
    child: false,
    creatable: false,
};

pub(crate) static ITEM_PRICE: DocType = DocType {
    name: "Item Price",
    fields: &[
        f("item_code", "Item Code", Link("Item")).reqd(),
        f("price_list", "Price List", Data)
            .reqd()
            .default("Standard Buying"),
        f("price_list_rate", "Rate", Float).reqd(),
        f("currency", "Currency", Data).default("EUR"),
        f("buying", "Buying", Check).default("1"),
        f("selling", "Selling", Check),
        f("supplier", "Supplier", Link("Supplier")),
        f("valid_from", "Valid From", Date),
        f("valid_upto", "Valid Upto", Date),
    ],
    naming: Naming::Hash,
    submittable: false,
    child: false,
    creatable: true,
};

static ALL: [&DocType; 14] = [
    &COMPANY,
    &UOM,
    &WAREHOUSE,
    &ITEM,
    &ITEM_REORDER,
    &ITEM_DEFAULT,
    &SUPPLIER,
    &ITEM_PRICE,
    &BIN,
    &PURCHASE_ORDER,
    &PURCHASE_ORDER_ITEM,
    &PURCHASE_RECEIPT,
    &PURCHASE_RECEIPT_ITEM,
    &STOCK_LEDGER_ENTRY,
];

/// The DocType named `name`.
pub(crate) fn doctype(name: &str) -> Option<&'static DocType> {
    ALL.iter().copied().find(|d| d.name == name)
}
