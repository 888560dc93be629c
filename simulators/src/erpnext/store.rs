//! The simulator's documents: each held as its DocType's fields in order
//! (values already cast to the field's type, as the database columns
//! would hold them) plus its child tables, read in and written out as
//! Frappe's JSON.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use super::error::{FrappeError, VALIDATION};
use super::meta::{self, DocType, Kind};

/// The user every API key of the simulator acts as.
pub(crate) const USER: &str = "Administrator";

/// One document (or child row).
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub name: String,
    pub docstatus: u8,
    pub idx: u32,
    pub creation: NaiveDateTime,
    pub modified: NaiveDateTime,
    /// One value per field of the DocType (`Null` for table fields).
    pub values: Vec<Value>,
    /// One list of rows per table field of the DocType.
    pub tables: Vec<Vec<Doc>>,
}

/// Where a child row sits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parent<'a> {
    pub name: &'a str,
    pub field: &'static str,
    pub doctype: &'static str,
}

/// The standard columns every document has.
pub(crate) const STANDARD: [&str; 7] = [
    "name",
    "owner",
    "creation",
    "modified",
    "modified_by",
    "docstatus",
    "idx",
];

/// The columns a child row adds.
pub(crate) const CHILD_STANDARD: [&str; 3] = ["parent", "parentfield", "parenttype"];

fn stamp_text(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

impl Doc {
    /// A new document of `meta` with its defaults.
    pub fn blank(meta: &DocType) -> Doc {
        let values = meta
            .fields
            .iter()
            .map(|field| {
                if field.default.is_empty() {
                    empty(field.kind)
                } else {
                    cast(field.kind, &json!(field.default)).unwrap_or(Value::Null)
                }
            })
            .collect();
        Doc {
            name: String::new(),
            docstatus: 0,
            idx: 0,
            creation: NaiveDateTime::default(),
            modified: NaiveDateTime::default(),
            values,
            tables: meta.tables().map(|_| Vec::new()).collect(),
        }
    }

    /// A field's value (standard columns included); `Null` when unknown.
    pub fn get(&self, meta: &DocType, field: &str) -> Value {
        match field {
            "name" => json!(self.name),
            "owner" | "modified_by" => json!(USER),
            "creation" => json!(stamp_text(self.creation)),
            "modified" => json!(stamp_text(self.modified)),
            "docstatus" => json!(self.docstatus),
            "idx" => json!(self.idx),
            _ => meta
                .field(field)
                .map_or(Value::Null, |(i, _)| self.values[i].clone()),
        }
    }

    /// A text field's value, "" when empty.
    pub fn text<'a>(&'a self, meta: &DocType, field: &str) -> &'a str {
        meta.field(field)
            .and_then(|(i, _)| self.values[i].as_str())
            .unwrap_or("")
    }

    /// A numeric field's value, 0 when empty.
    pub fn number(&self, meta: &DocType, field: &str) -> f64 {
        meta.field(field)
            .and_then(|(i, _)| self.values[i].as_f64())
            .unwrap_or(0.0)
    }

    /// Sets a field, cast to its type; unknown fields are ignored.
    pub fn set(&mut self, meta: &DocType, field: &str, value: Value) {
        if let Some((i, f)) = meta.field(field) {
            self.values[i] = cast(f.kind, &value).unwrap_or(Value::Null);
        }
    }

    /// The rows of a table field.
    pub fn rows(&self, meta: &DocType, table: &str) -> &[Doc] {
        meta.table_position(table)
            .map_or(&[][..], |i| self.tables[i].as_slice())
    }

    /// The rows of a table field, to change.
    pub fn rows_mut(&mut self, meta: &DocType, table: &str) -> &mut Vec<Doc> {
        match meta.table_position(table) {
            Some(i) => &mut self.tables[i],
            None => panic!("{} has no table {table}", meta.name),
        }
    }

    /// The document as `GET /api/resource/{doctype}/{name}` answers it:
    /// empty fields left out (Frappe's `as_dict(no_nulls=True)`), child
    /// rows included.
    pub fn to_json(&self, meta: &DocType, parent: Option<Parent<'_>>) -> Value {
        let mut out = Map::new();
        for column in STANDARD {
            out.insert(column.into(), self.get(meta, column));
        }
        out.insert("doctype".into(), json!(meta.name));
        if let Some(parent) = parent {
            out.insert("parent".into(), json!(parent.name));
            out.insert("parentfield".into(), json!(parent.field));
            out.insert("parenttype".into(), json!(parent.doctype));
        }
        let mut tables = self.tables.iter();
        for (field, value) in meta.fields.iter().zip(&self.values) {
            if let Kind::Table(child) = field.kind {
                let rows = tables.next().map_or(&[][..], Vec::as_slice);
                let Some(child_meta) = meta::doctype(child) else {
                    continue;
                };
                let here = Parent {
                    name: &self.name,
                    field: field.name,
                    doctype: meta.name,
                };
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|row| row.to_json(child_meta, Some(here)))
                    .collect();
                out.insert(field.name.into(), Value::Array(rows));
            } else if !value.is_null() {
                out.insert(field.name.into(), value.clone());
            }
        }
        Value::Object(out)
    }
}

/// What an empty column of that kind reads as: 0 for numbers, NULL else.
fn empty(kind: Kind) -> Value {
    match kind {
        Kind::Int | Kind::Check => json!(0),
        Kind::Float => json!(0.0),
        _ => Value::Null,
    }
}

/// Casts a JSON value to a field's type the way Frappe does (`cint`,
/// `flt`: text that is not a number reads as 0). A date that is not one is
/// an error.
pub(crate) fn cast(kind: Kind, value: &Value) -> Result<Value, String> {
    let number = |value: &Value| match value {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    };
    Ok(match kind {
        Kind::Int | Kind::Check => {
            if value.is_null() {
                json!(0)
            } else {
                json!(number(value).trunc() as i64)
            }
        }
        Kind::Float => json!(number(value)),
        Kind::Date => match value {
            Value::Null => Value::Null,
            Value::String(s) if s.trim().is_empty() => Value::Null,
            Value::String(s) => {
                let day = s.get(..10).unwrap_or(s);
                let date = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .map_err(|_| format!("{s} is not a valid date"))?;
                json!(date.format("%Y-%m-%d").to_string())
            }
            other => return Err(format!("{other} is not a valid date")),
        },
        Kind::Data | Kind::Link(_) | Kind::Select => match value {
            Value::Null => Value::Null,
            Value::String(s) if s.is_empty() => Value::Null,
            Value::String(s) => json!(s),
            Value::Number(n) => json!(n.to_string()),
            Value::Bool(b) => json!(if *b { "1" } else { "0" }),
            _ => Value::Null,
        },
        Kind::Table(_) => Value::Null,
    })
}

/// Reads `input` onto `doc`: each field present is cast to its type and
/// replaces the old value, a table given replaces all its rows, and keys
/// that are not fields of the DocType are ignored (Frappe keeps only its
/// columns). New rows get their `idx`; their names are set on insert.
pub(crate) fn read_onto(
    meta: &DocType,
    doc: &mut Doc,
    input: &Map<String, Value>,
) -> Result<(), FrappeError> {
    let mut table = 0;
    for (i, field) in meta.fields.iter().enumerate() {
        let given = input.get(field.name);
        if let Kind::Table(child) = field.kind {
            if let (Some(Value::Array(rows)), Some(child_meta)) = (given, meta::doctype(child)) {
                let mut parsed = Vec::with_capacity(rows.len());
                for (n, row) in rows.iter().enumerate() {
                    let Value::Object(row) = row else { continue };
                    let mut child_doc = Doc::blank(child_meta);
                    read_onto(child_meta, &mut child_doc, row)?;
                    child_doc.idx = u32::try_from(n + 1).unwrap_or(u32::MAX);
                    if let Some(Value::String(name)) = row.get("name") {
                        child_doc.name = name.clone();
                    }
                    parsed.push(child_doc);
                }
                doc.tables[table] = parsed;
            }
            table += 1;
            continue;
        }
        if let Some(value) = given {
            doc.values[i] = cast(field.kind, value)
                .map_err(|e| FrappeError::throw(VALIDATION, format!("{}: {e}", field.label)))?;
        }
    }
    Ok(())
}

/// Every document the simulator holds, by DocType and name.
#[derive(Debug)]
pub(crate) struct Store {
    docs: HashMap<&'static str, BTreeMap<String, Doc>>,
    series: HashMap<String, u32>,
    last_stamp: NaiveDateTime,
    rng: fastrand::Rng,
}

static NO_DOCS: BTreeMap<String, Doc> = BTreeMap::new();

impl Store {
    pub fn new(seed: u64) -> Store {
        Store {
            docs: HashMap::new(),
            series: HashMap::new(),
            last_stamp: NaiveDateTime::default(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The documents of a DocType, by name.
    pub fn all(&self, doctype: &str) -> &BTreeMap<String, Doc> {
        self.docs.get(doctype).unwrap_or(&NO_DOCS)
    }

    pub fn get(&self, doctype: &str, name: &str) -> Option<&Doc> {
        self.docs.get(doctype).and_then(|docs| docs.get(name))
    }

    pub fn get_mut(&mut self, doctype: &str, name: &str) -> Option<&mut Doc> {
        self.docs
            .get_mut(doctype)
            .and_then(|docs| docs.get_mut(name))
    }

    pub fn exists(&self, doctype: &str, name: &str) -> bool {
        self.get(doctype, name).is_some()
    }

    /// Stores `doc` under its name.
    pub fn put(&mut self, doctype: &'static str, doc: Doc) {
        self.docs
            .entry(doctype)
            .or_default()
            .insert(doc.name.clone(), doc);
    }

    /// Removes a document (a rolled-back insert).
    pub fn remove(&mut self, doctype: &str, name: &str) {
        if let Some(docs) = self.docs.get_mut(doctype) {
            docs.remove(name);
        }
    }

    /// Now, strictly after every earlier stamp, so `modified desc` is a
    /// total order.
    pub fn stamp(&mut self) -> NaiveDateTime {
        let now = Utc::now().naive_utc();
        let next = if now > self.last_stamp {
            now
        } else {
            self.last_stamp + chrono::Duration::microseconds(1)
        };
        self.last_stamp = next;
        next
    }

    /// A random name of 10 characters, as `frappe.generate_hash(length=10)`.
    pub fn hash(&mut self) -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..10)
            .map(|_| char::from(ALPHABET[self.rng.usize(..ALPHABET.len())]))
            .collect()
    }

    /// The next name of a naming series: `prefix` and five digits.
    pub fn next_in_series(&mut self, prefix: String) -> String {
        let counter = self.series.entry(prefix.clone()).or_insert(0);
        *counter += 1;
        format!("{prefix}{counter:05}")
    }
}
