//! The simulated sheets themselves: sparse grids of cells, ranges in A1
//! notation resolved against them, reads that leave out trailing empty
//! cells, writes as `RAW` or `USER_ENTERED`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::SheetsApiError;

const NEW_SHEET_ROWS: u32 = 1000;
const NEW_SHEET_COLUMNS: u32 = 26;
const MAX_COLUMNS: u32 = 18_278;
const MAX_ROWS: u32 = 10_000_000;

/// One sheet: its title, its grid's size, its cells.
#[derive(Debug)]
pub(super) struct Sheet {
    pub(super) title: String,
    pub(super) rows: u32,
    pub(super) columns: u32,
    /// Non-empty cells by (row, column), both 1-based.
    pub(super) cells: BTreeMap<(u32, u32), Value>,
}

impl Sheet {
    /// An empty sheet of a new spreadsheet's size.
    pub(super) fn new(title: &str) -> Self {
        Sheet {
            title: title.to_owned(),
            rows: NEW_SHEET_ROWS,
            columns: NEW_SHEET_COLUMNS,
            cells: BTreeMap::new(),
        }
    }
}

/// A resolved block: sheet index and inclusive 1-based bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Area {
    pub(super) sheet: usize,
    pub(super) top: u32,
    pub(super) left: u32,
    pub(super) bottom: u32,
    pub(super) right: u32,
}

/// How read values are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Render {
    /// As text, the way the sheet shows them.
    Formatted,
    /// As stored: numbers, booleans, text.
    Unformatted,
}

/// Values as rows, whichever way they were sent.
pub(super) fn oriented(values: Vec<Vec<Value>>, columns_major: bool) -> Vec<Vec<Value>> {
    if !columns_major {
        return values;
    }
    let height = values.iter().map(Vec::len).max().unwrap_or(0);
    (0..height)
        .map(|r| {
            values
                .iter()
                .map(|column| column.get(r).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect()
}

/// Cells hold numbers, text or booleans, not lists or objects.
pub(super) fn check_values(rows: &[Vec<Value>]) -> Result<(), SheetsApiError> {
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            if value.is_object() || value.is_array() {
                return Err(SheetsApiError::invalid(format!(
                    "Invalid values[{r}][{c}]: {value}"
                )));
            }
        }
    }
    Ok(())
}

/// What a write touched.
pub(super) struct Written {
    pub(super) cells: u32,
    pub(super) rows: BTreeSet<u32>,
    pub(super) columns: BTreeSet<u32>,
}

impl Written {
    pub(super) fn to_json(&self, id: &str, title: &str) -> Value {
        let mut answer = json!({
            "spreadsheetId": id,
            "updatedRows": self.rows.len(),
            "updatedColumns": self.columns.len(),
            "updatedCells": self.cells,
        });
        if let (Some(&top), Some(&bottom), Some(&left), Some(&right)) = (
            self.rows.first(),
            self.rows.last(),
            self.columns.first(),
            self.columns.last(),
        ) {
            answer["updatedRange"] = json!(a1(
                title,
                Area {
                    sheet: 0,
                    top,
                    left,
                    bottom,
                    right
                }
            ));
        }
        answer
    }
}

/// Writes `rows` from (`top`, `left`): null skips a cell, `""` clears it;
/// `parse` reads strings as typed in the UI (`USER_ENTERED`).
pub(super) fn write(
    sheet: &mut Sheet,
    top: u32,
    left: u32,
    rows: &[Vec<Value>],
    parse: bool,
) -> Written {
    let mut written = Written {
        cells: 0,
        rows: BTreeSet::new(),
        columns: BTreeSet::new(),
    };
    for (r, row) in (top..).zip(rows) {
        for (c, value) in (left..).zip(row) {
            if value.is_null() {
                continue;
            }
            let value = if parse { typed(value) } else { value.clone() };
            if value.as_str() == Some("") {
                sheet.cells.remove(&(r, c));
            } else {
                sheet.cells.insert((r, c), value);
            }
            written.cells += 1;
            written.rows.insert(r);
            written.columns.insert(c);
        }
    }
    written
}

/// A string as the UI would store it once typed: a number, a boolean, or text.
pub(super) fn typed(value: &Value) -> Value {
    let Some(text) = value.as_str() else {
        return value.clone();
    };
    if let Some(literal) = text.strip_prefix('\'') {
        return json!(literal);
    }
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("TRUE") || trimmed.eq_ignore_ascii_case("FALSE") {
        return json!(trimmed.eq_ignore_ascii_case("TRUE"));
    }
    if let Ok(n) = trimmed.parse::<i64>() {
        return json!(n);
    }
    match trimmed.parse::<f64>() {
        Ok(n) if n.is_finite() && !trimmed.is_empty() => json!(n),
        _ => value.clone(),
    }
}

/// The bounding box of the non-empty cells of `area`, if any.
pub(super) fn occupied(sheet: &Sheet, area: Area) -> Option<Area> {
    let mut found: Option<Area> = None;
    for (&(r, c), _) in sheet.cells.range((area.top, 0)..=(area.bottom, u32::MAX)) {
        if c < area.left || c > area.right {
            continue;
        }
        found = Some(match found {
            None => Area {
                sheet: area.sheet,
                top: r,
                left: c,
                bottom: r,
                right: c,
            },
            Some(f) => Area {
                sheet: f.sheet,
                top: f.top.min(r),
                left: f.left.min(c),
                bottom: f.bottom.max(r),
                right: f.right.max(c),
            },
        });
    }
    found
}

/// The table an append looks for: the block of data that starts at the
/// first row of `area` holding any, grown down and right over adjacent
/// rows and columns that hold data (possibly beyond `area`), as Google
/// finds the table after which it appends. A blank row ends the table.
pub(super) fn table(sheet: &Sheet, area: Area) -> Option<Area> {
    let first_row = occupied(sheet, area)?.top;
    let in_row = Area {
        top: first_row,
        bottom: first_row,
        ..area
    };
    let mut table = occupied(sheet, in_row)?;
    let has_data = |candidate: Area| occupied(sheet, candidate).is_some();
    loop {
        let below = Area {
            top: table.bottom + 1,
            bottom: table.bottom + 1,
            ..table
        };
        let right = Area {
            left: table.right + 1,
            right: table.right + 1,
            ..table
        };
        if table.bottom < sheet.rows && has_data(below) {
            table.bottom += 1;
        } else if table.right < sheet.columns && has_data(right) {
            table.right += 1;
        } else {
            return Some(table);
        }
    }
}

/// `area`'s values, trailing empty cells and rows (or columns) left out.
pub(super) fn read_area(
    sheet: &Sheet,
    area: Area,
    columns_major: bool,
    render: Render,
) -> Vec<Vec<Value>> {
    let Some(used) = occupied(sheet, area) else {
        return Vec::new();
    };
    let show = |r: u32, c: u32| -> Value {
        match sheet.cells.get(&(r, c)) {
            None => json!(""),
            Some(value) if render == Render::Formatted => json!(formatted(value)),
            Some(value) => value.clone(),
        }
    };
    let (outer, inner) = if columns_major {
        (area.left..=used.right, area.top..=used.bottom)
    } else {
        (area.top..=used.bottom, area.left..=used.right)
    };
    let mut lines: Vec<Vec<Value>> = outer
        .map(|o| {
            let mut line: Vec<Value> = inner
                .clone()
                .map(|i| {
                    if columns_major {
                        show(i, o)
                    } else {
                        show(o, i)
                    }
                })
                .collect();
            while line.last().is_some_and(|v| v.as_str() == Some("")) {
                line.pop();
            }
            line
        })
        .collect();
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

/// A value as the sheet shows it.
pub(super) fn formatted(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A range as parsed, before it meets a sheet.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) sheet: Option<String>,
    pub(super) left: Option<u32>,
    pub(super) top: Option<u32>,
    pub(super) right: Option<u32>,
    pub(super) bottom: Option<u32>,
}

impl Target {
    pub(super) fn parse(text: &str) -> Option<Target> {
        let (sheet, cells) = if let Some(rest) = text.strip_prefix('\'') {
            let mut title = String::new();
            let mut chars = rest.chars();
            loop {
                match chars.next()? {
                    '\'' if chars.as_str().starts_with('\'') => {
                        chars.next();
                        title.push('\'');
                    }
                    '\'' => break,
                    c => title.push(c),
                }
            }
            match chars.as_str() {
                "" => (Some(title), None),
                rest => (Some(title), Some(rest.strip_prefix('!')?)),
            }
        } else if let Some((title, cells)) = text.split_once('!') {
            (Some(title.to_owned()), Some(cells))
        } else if let Some(target) = Target::cells(text) {
            return Some(target);
        } else {
            (Some(text.to_owned()), None)
        };
        if sheet.as_deref().is_some_and(str::is_empty) {
            return None;
        }
        let mut target = match cells {
            Some(cells) => Target::cells(cells)?,
            None => Target::default(),
        };
        target.sheet = sheet;
        Some(target)
    }

    fn cells(text: &str) -> Option<Target> {
        let (start, end) = text.split_once(':').unwrap_or((text, text));
        let (left, top) = corner(start)?;
        let (right, bottom) = corner(end)?;
        let single = !text.contains(':');
        if (single && (left.is_none() || top.is_none())) || (left.is_none() && top.is_none()) {
            return None;
        }
        if (left.is_none() && right.is_some())
            || (top.is_none() && bottom.is_some() && right.is_none())
        {
            return None;
        }
        let order = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
            other => other,
        };
        let (left, right) = order(left, right);
        let (top, bottom) = order(top, bottom);
        Some(Target {
            sheet: None,
            left,
            top,
            right,
            bottom,
        })
    }

    pub(super) fn sheet_index(
        &self,
        sheets: &[Sheet],
        range: &str,
    ) -> Result<usize, SheetsApiError> {
        match &self.sheet {
            None if !sheets.is_empty() => Ok(0),
            None => Err(SheetsApiError::bad_range(range)),
            Some(title) => sheets
                .iter()
                .position(|s| s.title == *title)
                .ok_or_else(|| SheetsApiError::bad_range(range)),
        }
    }
}

/// `B7` → (Some(2), Some(7)); `B` → (Some(2), None); `7` → (None, Some(7)).
fn corner(text: &str) -> Option<(Option<u32>, Option<u32>)> {
    let split = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (letters, digits) = text.split_at(split);
    let column = match letters {
        "" => None,
        l if l.len() <= 3 => Some(l.bytes().fold(0, |n, b| {
            n * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1
        }))
        .filter(|&c| c <= MAX_COLUMNS),
        _ => return None,
    };
    if !letters.is_empty() && column.is_none() {
        return None;
    }
    let row = match digits {
        "" => None,
        d if d.bytes().all(|b| b.is_ascii_digit()) => Some(
            d.parse::<u32>()
                .ok()
                .filter(|r| (1..=MAX_ROWS).contains(r))?,
        ),
        _ => return None,
    };
    (column.is_some() || row.is_some()).then_some((column, row))
}

/// `range` on its sheet, open ends closed by the grid; beyond it is refused.
pub(super) fn resolve(sheets: &[Sheet], range: &str) -> Result<Area, SheetsApiError> {
    let target = Target::parse(range).ok_or_else(|| SheetsApiError::bad_range(range))?;
    let index = target.sheet_index(sheets, range)?;
    let sheet = &sheets[index];
    let area = Area {
        sheet: index,
        top: target.top.unwrap_or(1),
        left: target.left.unwrap_or(1),
        bottom: target.bottom.unwrap_or(sheet.rows),
        right: target.right.unwrap_or(sheet.columns),
    };
    if area.bottom > sheet.rows || area.right > sheet.columns {
        return Err(SheetsApiError::invalid(format!(
            "Range ({}) exceeds grid limits. Max rows: {}, max columns: {}",
            a1(&sheet.title, area),
            sheet.rows,
            sheet.columns
        )));
    }
    Ok(area)
}

pub(super) fn column_letters(mut column: u32) -> String {
    let mut letters = Vec::new();
    while column > 0 {
        letters.push(char::from(
            b'A' + u8::try_from((column - 1) % 26).unwrap_or(0),
        ));
        column = (column - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// `area` in A1 notation, the sheet's title quoted unless it is a plain word.
pub(super) fn a1(title: &str, area: Area) -> String {
    let plain = title.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !title.starts_with(|c: char| c.is_ascii_digit())
        && Target::cells(title).is_none();
    let sheet = if plain {
        title.to_owned()
    } else {
        format!("'{}'", title.replace('\'', "''"))
    };
    let start = format!("{}{}", column_letters(area.left), area.top);
    let end = format!("{}{}", column_letters(area.right), area.bottom);
    if start == end {
        format!("{sheet}!{start}")
    } else {
        format!("{sheet}!{start}:{end}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet_with(cells: &[(u32, u32)]) -> Sheet {
        let mut sheet = Sheet::new("S");
        for &(r, c) in cells {
            sheet.cells.insert((r, c), json!("x"));
        }
        sheet
    }

    fn area(top: u32, left: u32, bottom: u32, right: u32) -> Area {
        Area {
            sheet: 0,
            top,
            left,
            bottom,
            right,
        }
    }

    #[test]
    fn an_append_s_table_starts_in_the_range_and_grows_until_a_blank_row() {
        // A1:C3 filled, row 4 blank, a footer on row 5.
        let mut cells: Vec<(u32, u32)> =
            (1..=3).flat_map(|r| (1..=3).map(move |c| (r, c))).collect();
        cells.push((5, 1));
        let sheet = sheet_with(&cells);
        assert_eq!(
            table(&sheet, area(1, 1, 1, 1)),
            Some(area(1, 1, 3, 3)),
            "from A1 alone"
        );
        assert_eq!(
            table(&sheet, area(1, 1, 1000, 2)),
            Some(area(1, 1, 3, 3)),
            "from A:B"
        );
        assert_eq!(
            table(&sheet, area(4, 1, 1000, 3)),
            Some(area(5, 1, 5, 1)),
            "the footer"
        );
        assert_eq!(table(&sheet, area(1, 5, 1000, 6)), None, "no data in E:F");
    }

    #[test]
    fn ranges_parse_with_quoted_titles_open_ends_and_whole_sheets() {
        let t = Target::parse("'Bob''s'!A1:D").expect("range");
        assert_eq!(
            (t.sheet.as_deref(), t.left, t.top, t.right, t.bottom),
            (Some("Bob's"), Some(1), Some(1), Some(4), None)
        );
        let t = Target::parse("Sheet1").expect("range");
        assert_eq!(
            (t.sheet.as_deref(), t.left, t.top),
            (Some("Sheet1"), None, None)
        );
        let t = Target::parse("C3").expect("range");
        assert_eq!(
            (t.sheet, t.left, t.top, t.right, t.bottom),
            (None, Some(3), Some(3), Some(3), Some(3))
        );
        let t = Target::parse("S!2:4").expect("range");
        assert_eq!(
            (t.left, t.top, t.right, t.bottom),
            (None, Some(2), None, Some(4))
        );
        for bad in ["'open!A1", "S!A", "S!A:1", "S!", "!A1", "S!1A"] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn user_entered_text_becomes_numbers_and_booleans() {
        assert_eq!(typed(&json!("42")), json!(42));
        assert_eq!(typed(&json!("4.5")), json!(4.5));
        assert_eq!(typed(&json!("true")), json!(true));
        assert_eq!(typed(&json!("'42")), json!("42"));
        assert_eq!(typed(&json!("=A1")), json!("=A1"));
        assert_eq!(typed(&json!("SKU-1")), json!("SKU-1"));
    }

    #[test]
    fn titles_are_quoted_when_they_are_not_plain_words() {
        let area = Area {
            sheet: 0,
            top: 1,
            left: 1,
            bottom: 1000,
            right: 4,
        };
        assert_eq!(a1("Stock Counts", area), "'Stock Counts'!A1:D1000");
        assert_eq!(a1("Sheet1", area), "Sheet1!A1:D1000");
        assert_eq!(
            a1(
                "A1",
                Area {
                    bottom: 1,
                    right: 1,
                    ..area
                }
            ),
            "'A1'!A1"
        );
    }
}
