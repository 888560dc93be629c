//! `GET /api/resource/{doctype}`: Frappe's `frappe.client.get_list` with
//! its query parameters `fields` (a JSON list, default `["name"]`, `"*"`
//! for every column), `filters` (a JSON list of `[field, operator, value]`
//! or `[doctype, field, operator, value]`, or an object `{field: value}` /
//! `{field: [operator, value]}`), `order_by` (default `modified desc`),
//! `limit_start` and `limit_page_length` (default 20; 0 for all; `limit`
//! is an alias) and, for a child DocType, `parent` (the parent DocType).
//!
//! Child tables are never part of a list row; a child DocType is listed on
//! its own with `parent`, one row per child row, with its `parent`,
//! `parentfield` and `parenttype`.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use super::error::{FrappeError, DATA_ERROR, VALIDATION};
use super::meta::{self, DocType, Kind};
use super::store::{Doc, Parent, Store, CHILD_STANDARD, STANDARD};

/// Frappe's page length when none is asked for.
pub(crate) const DEFAULT_PAGE_LENGTH: usize = 20;

const OPERATORS: [&str; 12] = [
    "=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in", "is", "between",
];

#[derive(Debug, Clone)]
struct Filter {
    field: String,
    operator: String,
    value: Value,
}

/// A parsed list request.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    fields: Vec<String>,
    filters: Vec<Filter>,
    /// Field and whether descending.
    order: Vec<(String, bool)>,
    start: usize,
    limit: Option<usize>,
    parent: Option<&'static DocType>,
}

/// One row to list: a document, or a child row and where it sits.
#[derive(Clone, Copy)]
struct Row<'a> {
    meta: &'static DocType,
    doc: &'a Doc,
    parent: Option<Parent<'a>>,
}

impl Row<'_> {
    fn get(&self, field: &str) -> Value {
        match (field, self.parent) {
            ("parent", Some(p)) => json!(p.name),
            ("parentfield", Some(p)) => json!(p.field),
            ("parenttype", Some(p)) => json!(p.doctype),
            _ => self.doc.get(self.meta, field),
        }
    }
}

fn numeric(meta: &DocType, field: &str) -> bool {
    matches!(field, "docstatus" | "idx")
        || meta
            .field(field)
            .is_some_and(|(_, f)| matches!(f.kind, Kind::Int | Kind::Float | Kind::Check))
}

/// The column a field names, without a `` `tabItem`. `` prefix or
/// backticks; an error if the DocType has no such column.
fn column(meta: &DocType, raw: &str) -> Result<String, FrappeError> {
    let mut name = raw.trim();
    if let Some((table, field)) = name.rsplit_once('.') {
        let table = table.trim_matches('`');
        if table != format!("tab{}", meta.name) {
            return Err(not_permitted(raw));
        }
        name = field;
    }
    let name = name.trim_matches('`');
    let known = STANDARD.contains(&name)
        || (meta.child && CHILD_STANDARD.contains(&name))
        || meta
            .field(name)
            .is_some_and(|(_, f)| !matches!(f.kind, Kind::Table(_)));
    if known {
        Ok(name.to_owned())
    } else {
        Err(not_permitted(raw))
    }
}

pub(crate) fn not_permitted(field: &str) -> FrappeError {
    FrappeError::throw(DATA_ERROR, format!("Field not permitted in query: {field}"))
}

fn invalid(what: &str, raw: &str) -> FrappeError {
    FrappeError::throw(VALIDATION, format!("Invalid {what}: {raw}"))
}

fn number_param(raw: &str, what: &str) -> Result<usize, FrappeError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    raw.parse::<usize>().map_err(|_| invalid(what, raw))
}

impl ListQuery {
    /// Reads the query string of a list request on `meta`.
    pub fn parse(meta: &'static DocType, params: &[(String, String)]) -> Result<Self, FrappeError> {
        let param = |key: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let fields = match param("fields") {
            None | Some("") => vec!["name".to_owned()],
            Some(raw) => {
                let list: Vec<String> =
                    serde_json::from_str(raw).map_err(|_| invalid("fields", raw))?;
                let mut fields = Vec::with_capacity(list.len());
                for field in list {
                    if field.trim() == "*" {
                        fields.push("*".to_owned());
                    } else {
                        fields.push(column(meta, &field)?);
                    }
                }
                fields
            }
        };
        let filters = match param("filters") {
            None | Some("") => Vec::new(),
            Some(raw) => parse_filters(meta, raw)?,
        };
        let order = match param("order_by") {
            None | Some("") => vec![("modified".to_owned(), true)],
            Some(raw) => {
                let mut order = Vec::new();
                for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
                    let mut words = part.split_whitespace();
                    let field = words.next().unwrap_or_default();
                    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(_) => return Err(invalid("order_by", raw)),
                    };
                    order.push((column(meta, field)?, descending));
                }
                order
            }
        };
        let start = param("limit_start").map_or(Ok(0), |raw| number_param(raw, "limit_start"))?;
        let length = match param("limit_page_length").or_else(|| param("limit")) {
            None => DEFAULT_PAGE_LENGTH,
            Some(raw) => number_param(raw, "limit_page_length")?,
        };
        let parent = if meta.child {
            let named = param("parent").and_then(meta::doctype).filter(|parent| {
                parent
                    .tables()
                    .any(|f| matches!(f.kind, Kind::Table(child) if child == meta.name))
            });
            match named {
                Some(parent) => Some(parent),
                None => {
                    return Err(FrappeError::throw(
                        VALIDATION,
                        format!(
                            "Please specify a valid parent DocType for <strong>{}</strong>",
                            meta.name
                        ),
                    ))
                }
            }
        } else {
            None
        };
        Ok(ListQuery {
            fields,
            filters,
            order,
            start,
            limit: (length > 0).then_some(length),
            parent,
        })
    }

    /// The rows of `meta` in `store` that the query asks for.
    pub fn run(&self, store: &Store, meta: &'static DocType) -> Vec<Value> {
        let natural: &[(&str, bool)] = if meta.child {
            &[("parent", false), ("idx", false)]
        } else {
            &[("name", false)]
        };
        let in_natural_order = self.order.len() == natural.len()
            && self
                .order
                .iter()
                .zip(natural)
                .all(|((f, d), (nf, nd))| f == nf && d == nd);
        let rows = self.rows(store, meta).filter(|row| self.keeps(meta, row));
        let page: Vec<Row<'_>> = if in_natural_order {
            rows.skip(self.start)
                .take(self.limit.unwrap_or(usize::MAX))
                .collect()
        } else {
            let mut all: Vec<Row<'_>> = rows.collect();
            all.sort_by(|a, b| {
                self.order
                    .iter()
                    .map(|(field, descending)| {
                        let ordering = compare(&a.get(field), &b.get(field));
                        if *descending {
                            ordering.reverse()
                        } else {
                            ordering
                        }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            });
            all.into_iter()
                .skip(self.start)
                .take(self.limit.unwrap_or(usize::MAX))
                .collect()
        };
        page.iter().map(|row| self.project(meta, row)).collect()
    }

    fn rows<'a>(
        &'a self,
        store: &'a Store,
        meta: &'static DocType,
    ) -> Box<dyn Iterator<Item = Row<'a>> + 'a> {
        match self.parent {
            None => Box::new(store.all(meta.name).values().map(move |doc| Row {
                meta,
                doc,
                parent: None,
            })),
            Some(parent_meta) => Box::new(store.all(parent_meta.name).values().flat_map(
                move |parent_doc| {
                    parent_meta
                        .tables()
                        .zip(&parent_doc.tables)
                        .filter(move |(f, _)| matches!(f.kind, Kind::Table(c) if c == meta.name))
                        .flat_map(move |(field, rows)| {
                            rows.iter().map(move |doc| Row {
                                meta,
                                doc,
                                parent: Some(Parent {
                                    name: &parent_doc.name,
                                    field: field.name,
                                    doctype: parent_meta.name,
                                }),
                            })
                        })
                },
            )),
        }
    }

    fn keeps(&self, meta: &DocType, row: &Row<'_>) -> bool {
        self.filters.iter().all(|filter| {
            let value = row.get(&filter.field);
            matches(
                numeric(meta, &filter.field),
                &value,
                &filter.operator,
                &filter.value,
            )
        })
    }

    fn project(&self, meta: &DocType, row: &Row<'_>) -> Value {
        let mut out = Map::new();
        for field in &self.fields {
            if field == "*" {
                let standard =
                    STANDARD
                        .iter()
                        .chain(if meta.child { &CHILD_STANDARD[..] } else { &[] });
                for column in standard {
                    out.insert((*column).to_owned(), row.get(column));
                }
                for f in meta.fields {
                    if !matches!(f.kind, Kind::Table(_)) {
                        out.insert(f.name.to_owned(), row.get(f.name));
                    }
                }
            } else {
                out.insert(field.clone(), row.get(field));
            }
        }
        Value::Object(out)
    }
}

fn parse_filters(meta: &DocType, raw: &str) -> Result<Vec<Filter>, FrappeError> {
    let parsed: Value = serde_json::from_str(raw).map_err(|_| invalid("filters", raw))?;
    let filter = |field: &str, operator: &str, value: Value| -> Result<Filter, FrappeError> {
        let operator = operator.trim().to_ascii_lowercase();
        if !OPERATORS.contains(&operator.as_str()) {
            return Err(FrappeError::throw(
                VALIDATION,
                format!("Operator must be one of {}", OPERATORS.join(", ")),
            ));
        }
        Ok(Filter {
            field: column(meta, field)?,
            operator,
            value,
        })
    };
    let mut filters = Vec::new();
    match parsed {
        Value::Object(map) => {
            for (field, condition) in map {
                match condition {
                    Value::Array(pair) if pair.len() == 2 && pair[0].is_string() => {
                        let operator = pair[0].as_str().unwrap_or("=");
                        filters.push(filter(&field, operator, pair[1].clone())?);
                    }
                    value => filters.push(filter(&field, "=", value)?),
                }
            }
        }
        Value::Array(list) => {
            for item in list {
                let Value::Array(parts) = item else {
                    return Err(invalid("filters", raw));
                };
                let text = |v: &Value| v.as_str().map(str::to_owned);
                let (field, operator, value) = match parts.as_slice() {
                    [f, v] => (text(f), Some("=".to_owned()), v.clone()),
                    [f, o, v] => (text(f), text(o), v.clone()),
                    [d, f, o, v] if text(d).as_deref() == Some(meta.name) => {
                        (text(f), text(o), v.clone())
                    }
                    _ => return Err(invalid("filters", raw)),
                };
                match (field, operator) {
                    (Some(field), Some(operator)) => {
                        filters.push(filter(&field, &operator, value)?)
                    }
                    _ => return Err(invalid("filters", raw)),
                }
            }
        }
        _ => return Err(invalid("filters", raw)),
    }
    Ok(filters)
}

/// Orders two column values: numbers by value, text by its bytes, empty
/// first (as MariaDB orders NULL).
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => text(a).cmp(&text(b)),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

/// Whether a column value passes a condition; empty reads as "" (or 0 for
/// a number), as Frappe's `ifnull` does.
fn matches(is_number: bool, value: &Value, operator: &str, wanted: &Value) -> bool {
    let list = |wanted: &Value| -> Vec<Value> {
        match wanted {
            Value::Array(items) => items.clone(),
            Value::String(s) => s.split(',').map(|p| json!(p.trim())).collect(),
            other => vec![other.clone()],
        }
    };
    let equal = |a: &Value, b: &Value| {
        if is_number {
            (number(a) - number(b)).abs() < f64::EPSILON
        } else {
            text(a) == text(b)
        }
    };
    let ordering = |a: &Value, b: &Value| {
        if is_number {
            number(a).partial_cmp(&number(b)).unwrap_or(Ordering::Equal)
        } else {
            text(a).cmp(&text(b))
        }
    };
    match operator {
        "=" => equal(value, wanted),
        "!=" => !equal(value, wanted),
        "<" => ordering(value, wanted).is_lt(),
        ">" => ordering(value, wanted).is_gt(),
        "<=" => ordering(value, wanted).is_le(),
        ">=" => ordering(value, wanted).is_ge(),
        "in" => list(wanted).iter().any(|w| equal(value, w)),
        "not in" => !list(wanted).iter().any(|w| equal(value, w)),
        "like" => like(&text(value), &text(wanted)),
        "not like" => !like(&text(value), &text(wanted)),
        "is" => {
            let set = !text(value).is_empty();
            match text(wanted).as_str() {
                "set" => set,
                "not set" => !set,
                _ => false,
            }
        }
        "between" => match list(wanted).as_slice() {
            [low, high] => ordering(value, low).is_ge() && ordering(value, high).is_le(),
            _ => false,
        },
        _ => false,
    }
}

/// SQL `LIKE`, case-insensitive: `%` any run, `_` one character.
fn like(value: &str, pattern: &str) -> bool {
    fn go(v: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('%', rest)) => (0..=v.len()).any(|i| go(&v[i..], rest)),
            Some(('_', rest)) => !v.is_empty() && go(&v[1..], rest),
            Some((c, rest)) => v.first() == Some(c) && go(&v[1..], rest),
        }
    }
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&v, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_as_sql_does() {
        assert!(like("PUR-ORD-2026-00001", "pur-ord-%"));
        assert!(like("Bolt", "b_lt"));
        assert!(!like("Bolt", "b_t"));
    }

    #[test]
    fn filters_read_as_lists_or_objects() -> Result<(), FrappeError> {
        let item = &super::super::meta::ITEM;
        let list = parse_filters(
            item,
            r#"[["item_code","like","FAST%"],["Item","disabled","=",0]]"#,
        )?;
        assert_eq!(list.len(), 2);
        let object = parse_filters(item, r#"{"item_group":"Hardware","min_order_qty":[">",5]}"#)?;
        assert_eq!(object[1].operator, ">");
        assert!(parse_filters(item, r#"[["nope","=",1]]"#).is_err());
        Ok(())
    }
}
