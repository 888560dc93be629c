//! A1 notation, the way Google Sheets names a range: an optional sheet name
//! (quoted when it is not a plain word, a quote inside doubled) and an
//! optional block of cells.
//!
//! `'Stock Counts'!A1:D` is columns A to D from row 1 down; `Sheet1!A:D` all
//! rows of A to D; `Sheet1!2:5` rows 2 to 5; `A2:D10` a block of the first
//! sheet; `Sheet1` the whole sheet. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

/// The widest column Google Sheets has (`ZZZ`).
pub const MAX_COLUMN: u32 = 18_278;

/// The most rows a spreadsheet can hold (its 10 million cell limit).
pub const MAX_ROW: u32 = 10_000_000;

/// A range in A1 notation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct A1Range {
    /// The sheet's title; `None` means the spreadsheet's first sheet.
    pub sheet: Option<String>,
    /// The cells; `None` means the whole sheet.
    pub cells: Option<CellSpan>,
}

/// A rectangle of cells between two corners (equal for a single cell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellSpan {
    /// The top-left corner.
    pub start: CellRef,
    /// The bottom-right corner.
    pub end: CellRef,
}

/// A corner: a column, a row, or both; a missing one is open (the sheet's
/// first row or column for a start, its last for an end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRef {
    /// 1-based column (A = 1).
    pub column: Option<u32>,
    /// 1-based row.
    pub row: Option<u32>,
}

/// Why a text is not a range in A1 notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a range in A1 notation ({reason}): {input:?}")]
pub struct A1Error {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl A1Range {
    /// The whole of sheet `title`.
    pub fn sheet(title: impl Into<String>) -> Self {
        A1Range {
            sheet: Some(title.into()),
            cells: None,
        }
    }

    /// The first row of the range, 1 when open.
    pub fn first_row(&self) -> u32 {
        self.cells.and_then(|c| c.start.row).unwrap_or(1)
    }

    /// The first column of the range, 1 (A) when open.
    pub fn first_column(&self) -> u32 {
        self.cells.and_then(|c| c.start.column).unwrap_or(1)
    }
}

impl FromStr for A1Range {
    type Err = A1Error;

    fn from_str(input: &str) -> Result<Self, A1Error> {
        let fail = |reason| A1Error {
            input: input.to_owned(),
            reason,
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(fail("empty"));
        }
        let (sheet, cells) = if let Some(quoted) = text.strip_prefix('\'') {
            let (title, rest) = unquote(quoted).ok_or_else(|| fail("unclosed quote"))?;
            if title.is_empty() {
                return Err(fail("empty sheet name"));
            }
            match rest {
                "" => (Some(title), None),
                _ => match rest.strip_prefix('!') {
                    Some(cells) => (Some(title), Some(cells)),
                    None => return Err(fail("a quoted sheet name must be followed by '!'")),
                },
            }
        } else if let Some((title, cells)) = text.split_once('!') {
            if title.is_empty() {
                return Err(fail("empty sheet name"));
            }
            if title.contains('\'') {
                return Err(fail("a sheet name with a quote must be quoted"));
            }
            (Some(title.to_owned()), Some(cells))
        } else {
            // A bare word is a block of cells of the first sheet when it reads
            // as one (`A1:D`, `B2`), otherwise a sheet's name (`Sheet1`).
            match parse_span(text) {
                Some(span) => {
                    return Ok(A1Range {
                        sheet: None,
                        cells: Some(span),
                    })
                }
                None if text.contains(':') => return Err(fail("not a block of cells")),
                None => (Some(text.to_owned()), None),
            }
        };
        let cells = match cells {
            None => None,
            Some("") => return Err(fail("nothing after '!'")),
            Some(cells) => Some(parse_span(cells).ok_or_else(|| fail("not a block of cells"))?),
        };
        Ok(A1Range { sheet, cells })
    }
}

/// The title up to the closing quote (a doubled quote is one quote), and what follows.
fn unquote(quoted: &str) -> Option<(String, &str)> {
    let mut title = String::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            title.push(c);
        } else if matches!(chars.peek(), Some((_, '\''))) {
            chars.next();
            title.push('\'');
        } else {
            return Some((title, &quoted[i + 1..]));
        }
    }
    None
}

fn parse_span(text: &str) -> Option<CellSpan> {
    let (start, end) = match text.split_once(':') {
        Some((start, end)) => (parse_ref(start)?, parse_ref(end)?),
        None => {
            let cell = parse_ref(text)?;
            // A single reference must name a cell, not a whole column or row.
            (cell.column.is_some() && cell.row.is_some()).then_some((cell, cell))?
        }
    };
    let columns_only = |r: CellRef| r.row.is_none();
    let rows_only = |r: CellRef| r.column.is_none();
    let shape_ok = match (start, end) {
        // `A:D` or `A1:D`: columns, from a row or from the top.
        (_, e) if columns_only(e) => !rows_only(start),
        // `2:5` or `A2:5`: rows, from a column or from the first.
        (_, e) if rows_only(e) => !columns_only(start),
        // `A1:D10`, or `A:D10` (from the top of A).
        (s, _) => !rows_only(s),
    };
    shape_ok.then(|| order(start, end))
}

/// Google accepts corners in any order (`D10:A1`); keep the top-left first.
fn order(start: CellRef, end: CellRef) -> CellSpan {
    let sort = |a: Option<u32>, b: Option<u32>| match (a, b) {
        (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
        other => other,
    };
    let (first_column, last_column) = sort(start.column, end.column);
    let (first_row, last_row) = sort(start.row, end.row);
    CellSpan {
        start: CellRef {
            column: first_column,
            row: first_row,
        },
        end: CellRef {
            column: last_column,
            row: last_row,
        },
    }
}

fn parse_ref(text: &str) -> Option<CellRef> {
    let split = text
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (letters, digits) = text.split_at(split);
    if letters.is_empty() && digits.is_empty() {
        return None;
    }
    let column = match letters {
        "" => None,
        letters => Some(column_number(letters)?),
    };
    let row = match digits {
        "" => None,
        digits if digits.bytes().all(|b| b.is_ascii_digit()) => {
            let row: u32 = digits.parse().ok()?;
            Some((1..=MAX_ROW).contains(&row).then_some(row)?)
        }
        _ => return None,
    };
    Some(CellRef { column, row })
}

/// `A` → 1, `Z` → 26, `AA` → 27; `None` past [`MAX_COLUMN`].
pub fn column_number(letters: &str) -> Option<u32> {
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut n: u32 = 0;
    for b in letters.bytes() {
        if !b.is_ascii_alphabetic() {
            return None;
        }
        n = n * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1;
    }
    (n <= MAX_COLUMN).then_some(n)
}

/// 1 → `A`, 27 → `AA`.
pub fn column_letters(mut column: u32) -> String {
    let mut letters = Vec::new();
    while column > 0 {
        let rem = (column - 1) % 26;
        letters.push(char::from(
            b'A' + u8::try_from(rem).expect("a remainder of 26 fits a byte"),
        ));
        column = (column - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// Whether a sheet's title can be written without quotes.
fn plain_title(title: &str) -> bool {
    title.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !title.starts_with(|c: char| c.is_ascii_digit())
        && parse_span(title).is_none()
}

impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(column) = self.column {
            f.write_str(&column_letters(column))?;
        }
        if let Some(row) = self.row {
            write!(f, "{row}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CellSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}:{}", self.start, self.end)
        }
    }
}

impl fmt::Display for A1Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sheet {
            Some(title) if plain_title(title) => f.write_str(title)?,
            Some(title) => write!(f, "'{}'", title.replace('\'', "''"))?,
            None => {}
        }
        match (&self.sheet, &self.cells) {
            (Some(_), Some(cells)) => write!(f, "!{cells}"),
            (None, Some(cells)) => write!(f, "{cells}"),
            (_, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> A1Range {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn at(column: Option<u32>, row: Option<u32>) -> CellRef {
        CellRef { column, row }
    }

    #[test]
    fn a_quoted_sheet_name_with_spaces_and_an_open_ended_block() {
        let r = range("'Stock Counts'!A1:D");
        assert_eq!(r.sheet.as_deref(), Some("Stock Counts"));
        let cells = r.cells.expect("cells");
        assert_eq!(cells.start, at(Some(1), Some(1)));
        assert_eq!(cells.end, at(Some(4), None));
        assert_eq!(r.to_string(), "'Stock Counts'!A1:D");
    }

    #[test]
    fn a_doubled_quote_is_a_quote_in_the_name() {
        let r = range("'Bob''s counts'!B2");
        assert_eq!(r.sheet.as_deref(), Some("Bob's counts"));
        assert_eq!(
            r.cells.map(|c| (c.start, c.end)),
            Some((at(Some(2), Some(2)), at(Some(2), Some(2))))
        );
        assert_eq!(r.to_string(), "'Bob''s counts'!B2");
    }

    #[test]
    fn unquoted_names_whole_columns_rows_and_blocks() {
        let whole_columns = range("Sheet1!A:D");
        assert_eq!(whole_columns.sheet.as_deref(), Some("Sheet1"));
        let cells = whole_columns.cells.expect("cells");
        assert_eq!(
            (cells.start, cells.end),
            (at(Some(1), None), at(Some(4), None))
        );

        let rows = range("Sheet1!2:5").cells.expect("cells");
        assert_eq!(
            (rows.start, rows.end),
            (at(None, Some(2)), at(None, Some(5)))
        );

        let block = range("A2:D10");
        assert_eq!(block.sheet, None);
        let cells = block.cells.expect("cells");
        assert_eq!(
            (cells.start, cells.end),
            (at(Some(1), Some(2)), at(Some(4), Some(10)))
        );
        assert_eq!(block.to_string(), "A2:D10");
    }

    #[test]
    fn a_bare_word_is_a_whole_sheet_unless_it_reads_as_a_cell() {
        assert_eq!(range("Sheet1"), A1Range::sheet("Sheet1"));
        assert_eq!(range("Inventory"), A1Range::sheet("Inventory"));
        assert_eq!(range("'Stock Counts'"), A1Range::sheet("Stock Counts"));
        assert_eq!(range("B7").sheet, None, "a cell of the first sheet");
        assert_eq!(
            A1Range::sheet("B7").to_string(),
            "'B7'",
            "quoted so it stays a sheet"
        );
        assert_eq!(A1Range::sheet("Q3 plan").to_string(), "'Q3 plan'");
    }

    #[test]
    fn corners_are_put_in_order_and_lowercase_is_accepted() {
        let cells = range("d10:a1").cells.expect("cells");
        assert_eq!(
            (cells.start, cells.end),
            (at(Some(1), Some(1)), at(Some(4), Some(10)))
        );
    }

    #[test]
    fn columns_are_numbered_like_a_spreadsheet() {
        for (letters, n) in [
            ("A", 1),
            ("Z", 26),
            ("AA", 27),
            ("AZ", 52),
            ("ZZ", 702),
            ("ZZZ", 18_278),
        ] {
            assert_eq!(column_number(letters), Some(n));
            assert_eq!(column_letters(n), letters);
        }
        assert_eq!(column_number("AAAA"), None);
    }

    #[test]
    fn malformed_ranges_are_refused_with_a_reason() {
        for bad in [
            "",
            "'Unclosed!A1",
            "Sheet1!",
            "!A1",
            "Sheet1!A1:",
            "Sheet1!1A",
            "A:1",
            "Sheet1!A",
            "'Stock'A1",
            "Sheet1!A0",
            "Sheet1!A1:B2:C3",
        ] {
            assert!(bad.parse::<A1Range>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_first_row_and_column_default_to_the_top_left() {
        assert_eq!(range("Sheet1").first_row(), 1);
        assert_eq!(range("Sheet1!C:D").first_row(), 1);
        assert_eq!(range("Sheet1!C7:D").first_row(), 7);
        assert_eq!(range("Sheet1!C7:D").first_column(), 3);
    }
}
