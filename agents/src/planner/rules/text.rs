//! Words and clauses: the order's text cut into words (keeping amounts such
//! as `$1,200.50` and versions such as `1.4.2` whole) and the words into
//! clauses at `,` `;` `.` `and` `then` `after that`.

/// One word of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    /// As written, without surrounding quotes or a possessive `'s`.
    pub text: String,
    /// Lower-cased, for the vocabulary.
    pub lower: String,
    /// Byte offsets in the order's text.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

/// How a clause is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Joint {
    /// The first clause.
    Start,
    /// `,` `;` `.` or `and`: the clauses may run side by side.
    And,
    /// `then`, `after that`: the clause waits for the one before.
    Then,
}

/// A run of words between joints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    /// How it is joined to the previous segment.
    pub joint: Joint,
    /// The joining words (`and`, `then` …), kept so that "between 1 June and
    /// 30 June" reads whole when segments are put back together.
    pub joiners: Vec<Word>,
    /// Its words.
    pub words: Vec<Word>,
}

enum Piece {
    Word(Word),
    Mark,
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | '‘')
}

fn word(text: &str, start: usize, end: usize) -> Option<Word> {
    let raw = &text[start..end];
    let trimmed = raw.trim_matches(|c: char| is_apostrophe(c) || c == '`');
    let without_possessive = ["'s", "’s"]
        .iter()
        .find_map(|s| {
            trimmed
                .strip_suffix(s)
                .or_else(|| trimmed.strip_suffix(&s.to_uppercase()))
        })
        .unwrap_or(trimmed);
    if without_possessive.is_empty() {
        return None;
    }
    Some(Word {
        text: without_possessive.to_owned(),
        lower: without_possessive.to_lowercase().replace('’', "'"),
        start,
        end,
    })
}

fn pieces(text: &str) -> Vec<Piece> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut pieces = Vec::new();
    let mut start: Option<usize> = None;
    let flush = |pieces: &mut Vec<Piece>, start: &mut Option<usize>, end: usize| {
        if let Some(s) = start.take() {
            if let Some(w) = word(text, s, end) {
                pieces.push(Piece::Word(w));
            }
        }
    };
    for (i, &(at, c)) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).map(|&(_, p)| p);
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let digit_both_sides =
            prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit());
        let mark = match c {
            ';' | '!' | '?' => true,
            ',' => !digit_both_sides,
            '.' => !(start.is_some() && next.is_some_and(char::is_alphanumeric)),
            _ => false,
        };
        let blank = c.is_whitespace()
            || matches!(
                c,
                '(' | ')' | '[' | ']' | '{' | '}' | '"' | '“' | '”' | ':' | '*' | '<' | '>' | '/'
            );
        if mark || blank {
            flush(&mut pieces, &mut start, at);
            if mark {
                pieces.push(Piece::Mark);
            }
        } else if start.is_none() {
            start = Some(at);
        }
    }
    flush(&mut pieces, &mut start, text.len());
    pieces
}

/// The order's words, cut into segments at its joints.
pub(super) fn segments(text: &str) -> Vec<Segment> {
    let pieces = pieces(text);
    let mut segments = Vec::new();
    let mut current = Segment {
        joint: Joint::Start,
        joiners: Vec::new(),
        words: Vec::new(),
    };
    let mut pending: Option<Joint> = None;
    let mut joiners: Vec<Word> = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let (joint, used) = match &pieces[i] {
            Piece::Mark => (Some(Joint::And), 1),
            Piece::Word(w) => {
                let next = match pieces.get(i + 1) {
                    Some(Piece::Word(n)) => Some(n.lower.as_str()),
                    _ => None,
                };
                match (w.lower.as_str(), next) {
                    ("after", Some("that" | "this" | "which")) => (Some(Joint::Then), 2),
                    ("followed", Some("by")) => (Some(Joint::Then), 2),
                    ("then" | "afterwards" | "afterward" | "subsequently", _) => {
                        (Some(Joint::Then), 1)
                    }
                    ("and" | "&" | "plus" | "also" | "but", _) => (Some(Joint::And), 1),
                    _ => (None, 0),
                }
            }
        };
        match joint {
            Some(joint) => {
                for piece in &pieces[i..i + used] {
                    if let Piece::Word(w) = piece {
                        joiners.push(w.clone());
                    }
                }
                if !current.words.is_empty() {
                    segments.push(current);
                    current = Segment {
                        joint: Joint::And,
                        joiners: Vec::new(),
                        words: Vec::new(),
                    };
                }
                // "and then", ", then": the strongest joint wins.
                pending = Some(match (pending, joint) {
                    (Some(Joint::Then), _) | (_, Joint::Then) => Joint::Then,
                    _ => Joint::And,
                });
                i += used;
            }
            None => {
                if let Piece::Word(w) = &pieces[i] {
                    if current.words.is_empty() {
                        if let Some(joint) = pending.take() {
                            current.joint = if segments.is_empty() {
                                Joint::Start
                            } else {
                                joint
                            };
                        }
                        current.joiners = std::mem::take(&mut joiners);
                    }
                    current.words.push(w.clone());
                }
                i += 1;
            }
        }
    }
    if !current.words.is_empty() {
        segments.push(current);
    } else if pending == Some(Joint::Then) && !segments.is_empty() {
        // "deploy 1.2, then": something was cut off; an empty segment says so.
        current.joint = Joint::Then;
        current.joiners = joiners;
        segments.push(current);
    }
    segments
}

/// The text a run of words was cut from, as the CEO wrote it.
pub(super) fn quote<'a>(text: &'a str, words: &[Word]) -> &'a str {
    match (words.first(), words.last()) {
        (Some(first), Some(last)) => text.get(first.start..last.end).unwrap_or(text).trim(),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(segment: &Segment) -> Vec<&str> {
        segment.words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn amounts_versions_and_dates_stay_whole() {
        let segments = segments("pay $1,200.50, deploy v1.4.2. Then audit 2026-12-15's invoices");
        let all: Vec<Vec<&str>> = segments.iter().map(words).collect();
        assert_eq!(
            all,
            [
                vec!["pay", "$1,200.50"],
                vec!["deploy", "v1.4.2"],
                vec!["audit", "2026-12-15", "invoices"]
            ]
        );
        assert_eq!(segments[2].joint, Joint::Then);
        assert_eq!(segments[1].joint, Joint::And);
    }

    #[test]
    fn joints_combine_and_the_strongest_wins() {
        let segments = segments("audit invoices, and then pay them; after that forecast");
        let joints: Vec<Joint> = segments.iter().map(|s| s.joint).collect();
        assert_eq!(joints, [Joint::Start, Joint::Then, Joint::Then]);
        let joiners: Vec<&str> = segments[1]
            .joiners
            .iter()
            .map(|w| w.lower.as_str())
            .collect();
        assert_eq!(joiners, ["and", "then"]);
    }

    #[test]
    fn quotes_point_back_into_the_text() {
        let text = "Restock “SKU-1” from Acme’s depot";
        let segments = segments(text);
        assert_eq!(
            quote(text, &segments[0].words[..4]),
            "Restock “SKU-1” from Acme’s"
        );
        assert_eq!(segments[0].words[3].lower, "acme");
    }
}
