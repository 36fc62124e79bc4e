//! The characters a text field may hold: one check for every identifier and name, another
//! for prose.
//!
//! Identifiers and names (an event's `action`, actor and target ids, names, types and
//! emails, context keys and values, tenant names and aliases) are compared, filtered on and
//! shown in lists, so a control character or a bidirectional override in one spoofs what a
//! reader sees (a "Trojan Source" style `admin\u{202E}nimda`) or breaks storage (PostgreSQL
//! text cannot hold NUL). [`check_label`] refuses every control character (C0, DEL, C1) and
//! the bidi embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069).
//!
//! Prose (messages, reasons, user agents, paths) naturally holds tabs and line breaks and
//! right-to-left text, so [`check_prose`] refuses only NUL and the other C0 controls
//! besides tab, line feed and carriage return.

/// Why a text was refused: the character and its position (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("holds {} at character {at}; {}", describe(*.found), .rule)]
pub struct TextError {
    pub found: char,
    pub at: usize,
    rule: &'static str,
}

fn describe(c: char) -> String {
    if is_bidi_control(c) {
        format!("the bidirectional control U+{:04X}", c as u32)
    } else {
        format!("the control character U+{:04X}", c as u32)
    }
}

/// The bidi embedding, override and isolate controls.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

const LABEL_RULE: &str = "identifiers and names may not hold control or bidirectional-override characters";
const PROSE_RULE: &str = "text may not hold NUL or control characters other than tab and line breaks";

/// Checks an identifier or a name.
pub fn check_label(text: &str) -> Result<(), TextError> {
    match text.chars().enumerate().find(|(_, c)| c.is_control() || is_bidi_control(*c)) {
        Some((at, found)) => Err(TextError { found, at, rule: LABEL_RULE }),
        None => Ok(()),
    }
}

/// Checks prose (a message, a reason).
pub fn check_prose(text: &str) -> Result<(), TextError> {
    let bad = |c: char| (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}';
    match text.chars().enumerate().find(|(_, c)| bad(*c)) {
        Some((at, found)) => Err(TextError { found, at, rule: PROSE_RULE }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_refuse_controls_and_bidi_overrides() {
        assert!(check_label("user.created").is_ok());
        assert!(check_label("Ana Müller").is_ok());
        assert!(check_label("אנה").is_ok());
        for bad in ["a\0b", "a\u{202E}b", "a\u{2066}b", "a\tb", "a\nb", "a\u{85}b", "a\u{7f}"] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
        let e = check_label("ab\u{202E}").unwrap_err();
        assert_eq!((e.found, e.at), ('\u{202E}', 2));
        assert!(e.to_string().contains("U+202E"), "{e}");
    }

    #[test]
    fn prose_keeps_line_breaks_and_refuses_nul() {
        assert!(check_prose("line one\nline two\r\n\tindented").is_ok());
        assert!(check_prose("שלום \u{202B}x").is_ok());
        assert!(check_prose("a\0b").is_err());
        assert!(check_prose("a\u{1b}[31m").is_err());
    }
}
