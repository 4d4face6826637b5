//! The header of a `.npy` file: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (4000, 40), }`.
//!
//! Only the three keys NumPy writes are accepted, with the value kinds NumPy writes
//! (a string, a bool, a tuple of integers); anything else is an error, never a guess.

/// The parsed header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) descr: String,
    pub(crate) fortran_order: bool,
    pub(crate) shape: Vec<usize>,
}

enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the header text; the error says what was expected where.
pub(crate) fn parse_header(text: &str) -> Result<Header, String> {
    let mut p = Parser {
        chars: text.char_indices().peekable(),
        text,
    };
    p.expect('{')?;
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        if !["descr", "fortran_order", "shape"].contains(&key.as_str()) {
            return Err(format!("unexpected key {}", quote_start(&key)));
        }
        p.skip_ws();
        p.expect(':')?;
        p.skip_ws();
        let value = p.value()?;
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran_order = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            ("descr", _) => {
                return Err("'descr' is not a string (structured dtypes are not supported)".into())
            }
            ("fortran_order", _) => return Err("'fortran_order' is not True or False".into()),
            (_, _) => return Err("'shape' is not a tuple of integers".into()),
        }
        p.skip_ws();
        if p.eat('}') {
            break;
        }
        p.expect(',')?;
    }
    p.skip_ws();
    if let Some((at, c)) = p.chars.next() {
        return Err(format!(
            "unexpected {c:?} at byte {at} after the closing brace"
        ));
    }
    let missing = |key| format!("the key '{key}' is missing");
    Ok(Header {
        descr: descr.ok_or_else(|| missing("descr"))?,
        fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
        shape: shape.ok_or_else(|| missing("shape"))?,
    })
}

/// The characters of header text quoted in an error message, at most.
const QUOTED_CHARS: usize = 160;

/// `text` quoted and escaped for an error message, cut after [`QUOTED_CHARS`] characters:
/// a header may be 64 KiB of control characters, each escaped to up to 10 bytes.
pub(crate) fn quote_start(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}... ({} bytes in all)", &text[..cut], text.len()),
        None => format!("{text:?}"),
    }
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    }

    fn eat(&mut self, want: char) -> bool {
        self.chars.next_if(|&(_, c)| c == want).is_some()
    }

    fn expect(&mut self, want: char) -> Result<(), String> {
        match self.chars.next() {
            Some((_, c)) if c == want => Ok(()),
            Some((at, c)) => Err(format!("expected {want:?} at byte {at}, found {c:?}")),
            None => Err(format!("expected {want:?}, found the end of the header")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.chars.next() {
            Some((_, q)) if q == '\'' || q == '"' => q,
            Some((at, c)) => {
                return Err(format!(
                    "expected a quoted string at byte {at}, found {c:?}"
                ))
            }
            None => return Err("expected a quoted string, found the end of the header".into()),
        };
        let mut s = String::new();
        for (_, c) in self.chars.by_ref() {
            if c == quote {
                return Ok(s);
            }
            s.push(c);
        }
        Err("unterminated string".into())
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.chars.peek().copied() {
            Some((_, '\'' | '"')) => self.string().map(Value::Str),
            Some((_, '(')) => self.tuple().map(Value::Tuple),
            Some((at, _)) => {
                let word: String = self
                    .text
                    .get(at..)
                    .unwrap_or("")
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let value = match word.as_str() {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    _ => return Err(format!("unexpected value at byte {at}")),
                };
                for _ in 0..word.len() {
                    self.chars.next();
                }
                Ok(value)
            }
            None => Err("expected a value, found the end of the header".into()),
        }
    }

    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect('(')?;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(')') {
                return Ok(items);
            }
            items.push(self.integer()?);
            self.skip_ws();
            // Python 2 wrote long integers with an `L` suffix.
            self.eat('L');
            self.skip_ws();
            if self.eat(')') {
                return Ok(items);
            }
            self.expect(',')?;
        }
    }

    fn integer(&mut self) -> Result<usize, String> {
        let mut digits = String::new();
        while let Some((_, c)) = self.chars.next_if(|(_, c)| c.is_ascii_digit()) {
            digits.push(c);
        }
        if digits.is_empty() {
            return Err("expected a non-negative integer in 'shape'".into());
        }
        digits
            .parse()
            .map_err(|_| format!("shape dimension {digits} is too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        let h =
            parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4000, 40), }   \n")
                .unwrap();
        assert_eq!(h.descr, "<f4");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![4000, 40]);
        let h = parse_header("{\"shape\":(7,),\"fortran_order\":True,\"descr\":\"|u1\"}").unwrap();
        assert_eq!((h.shape, h.fortran_order), (vec![7], true));
        let h = parse_header("{'descr': '<f8', 'fortran_order': False, 'shape': (), }").unwrap();
        assert!(h.shape.is_empty());
        let h =
            parse_header("{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 2L), }").unwrap();
        assert_eq!(h.shape, vec![3, 2]);
    }

    #[test]
    fn quotes_only_the_start_of_long_text() {
        assert_eq!(quote_start("{'descr'"), r#""{'descr'""#);
        let long = quote_start(&"\x7f".repeat(65535));
        assert!(long.starts_with(r#""\u{7f}"#), "{long}");
        assert!(long.ends_with("... (65535 bytes in all)"), "{long}");
        assert_eq!(long.matches(r"\u{7f}").count(), QUOTED_CHARS);
        let e = parse_header(&format!("{{'{}': 1}}", "x".repeat(1000))).unwrap_err();
        assert!(e.len() < 300, "{e}");
    }

    #[test]
    fn rejects_bad_headers_with_a_reason() {
        let bad = [
            ("", "expected '{'"),
            (
                "{'descr': '<f4', 'fortran_order': False}",
                "'shape' is missing",
            ),
            (
                "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}",
                "unexpected value",
            ),
            (
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
                "unexpected value",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': 3}",
                "unexpected value",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}",
                "non-negative integer",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
                "too large",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                "unexpected key",
            ),
            (
                "{'descr': 1, 'fortran_order': False, 'shape': (1,)}",
                "unexpected value",
            ),
            ("{'descr': '<f4", "unterminated"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",
                "after the closing brace",
            ),
        ];
        for (text, want) in bad {
            let e = parse_header(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
