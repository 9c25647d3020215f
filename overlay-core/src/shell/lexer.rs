//! Words and escapes of the shell language.
//!
//! - Words are separated by blanks (space, tab; a carriage return counts as one too, so
//!   scripts with CRLF line ends work).
//! - `"..."` quotes: blanks and `#` inside are part of the word; quoted and unquoted parts
//!   next to each other form one word (`a"b c"` is `ab c`); `""` is an empty word.
//! - `#` at the start of a word, outside quotes, starts a comment that runs to the end of the
//!   line (`a#b` is a word).
//! - A backslash keeps the character after it in the word, escaped: `\"` does not end a
//!   quote and `\ ` does not split. The words keep their backslashes; [`decode_text`] gives
//!   them meaning in TEXT arguments.
//! - TEXT escapes: `\n`, `\t`, `\\`, `\xHH` (two hex digits, any byte), and `\"` for a quote.

use alloc::{string::String, vec::Vec};
use core::fmt::Write as _;

use crate::error::{Errno, Result};

/// Splits `line` into words.
///
/// # Errors
/// `EINVAL` for a quote that is not closed.
pub fn split_words(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                word.push('\\');
                if let Some(escaped) = chars.next() {
                    word.push(escaped);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' | '\t' | '\r' if !quoted => {
                if in_word {
                    words.push(core::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !quoted && !in_word => break,
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(Errno::EINVAL);
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The bytes a TEXT argument stands for, its escapes decoded.
///
/// # Errors
/// `EINVAL` for an unknown escape, a `\x` without two hex digits, or a lone trailing `\`.
pub fn decode_text(word: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(word.len());
    let mut rest = word.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        if byte != b'\\' {
            bytes.push(byte);
            continue;
        }
        let Some((&escape, tail)) = rest.split_first() else {
            return Err(Errno::EINVAL);
        };
        rest = tail;
        bytes.push(match escape {
            b'n' => b'\n',
            b't' => b'\t',
            b'\\' => b'\\',
            b'"' => b'"',
            b'x' => {
                let [high, low, tail @ ..] = rest else {
                    return Err(Errno::EINVAL);
                };
                rest = tail;
                (hex_digit(*high)? << 4) | hex_digit(*low)?
            }
            _ => return Err(Errno::EINVAL),
        });
    }
    Ok(bytes)
}

fn hex_digit(byte: u8) -> Result<u8> {
    match byte {
        b'0'..=b'9' => Ok(byte - b'0'),
        b'a'..=b'f' => Ok(byte - b'a' + 10),
        b'A'..=b'F' => Ok(byte - b'A' + 10),
        _ => Err(Errno::EINVAL),
    }
}

/// `bytes` as one line of text that [`decode_text`] turns back into them: printable
/// characters as they are, `\` as `\\`, newline and tab as `\n` and `\t`, and every other
/// control character or invalid UTF-8 byte as `\xHH`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => text.push_str("\\\\"),
                '\n' => text.push_str("\\n"),
                '\t' => text.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0; 4];
                    for byte in c.encode_utf8(&mut buf).bytes() {
                        push_hex_escape(&mut text, byte);
                    }
                }
                c => text.push(c),
            }
        }
        for &byte in chunk.invalid() {
            push_hex_escape(&mut text, byte);
        }
    }
    text
}

fn push_hex_escape(text: &mut String, byte: u8) {
    // Writing to a String cannot fail.
    let _ = write!(text, "\\x{byte:02x}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_words(line).unwrap()
    }

    #[test]
    fn blanks_split_words() {
        assert_eq!(words("write  /a\thello"), ["write", "/a", "hello"]);
        assert_eq!(words("   "), Vec::<String>::new());
        assert_eq!(words("ls /\r"), ["ls", "/"]);
    }

    #[test]
    fn quotes_group_and_concatenate() {
        assert_eq!(
            words(r#"write /a "hello world""#),
            ["write", "/a", "hello world"]
        );
        assert_eq!(words(r#"x a"b c"d"#), ["x", "ab cd"]);
        assert_eq!(words(r#"write /a """#), ["write", "/a", ""]);
        assert_eq!(
            words(r##"write /a "# not a comment""##),
            ["write", "/a", "# not a comment"]
        );
        assert_eq!(split_words(r#"write /a "open"#), Err(Errno::EINVAL));
    }

    #[test]
    fn comments_start_at_a_word() {
        assert_eq!(words("# whole line"), Vec::<String>::new());
        assert_eq!(words("cat /a # trailing"), ["cat", "/a"]);
        assert_eq!(words("cat /a#b"), ["cat", "/a#b"]);
    }

    #[test]
    fn backslashes_stay_in_words() {
        assert_eq!(words(r#"w "a\"b" c\ d"#), ["w", r#"a\"b"#, r"c\ d"]);
        assert_eq!(words(r"w a\\"), ["w", r"a\\"]);
    }

    #[test]
    fn text_escapes_decode() {
        assert_eq!(decode_text(r"a\nb\tc\\d"), Ok(b"a\nb\tc\\d".to_vec()));
        assert_eq!(decode_text(r"\x00\xfF\x41"), Ok(alloc::vec![0, 0xff, b'A']));
        assert_eq!(decode_text(r#"\""#), Ok(b"\"".to_vec()));
        assert_eq!(decode_text(r"\q"), Err(Errno::EINVAL));
        assert_eq!(decode_text(r"\x4"), Err(Errno::EINVAL));
        assert_eq!(decode_text(r"\xg0"), Err(Errno::EINVAL));
        assert_eq!(decode_text("a\\"), Err(Errno::EINVAL));
    }

    #[test]
    fn escaping_round_trips() {
        let bytes = b"y\n\t\\ \x00\xff\xc3\xa9\x7f".to_vec();
        let text = escape_bytes(&bytes);
        assert_eq!(text, r"y\n\t\\ \x00\xffé\x7f");
        assert_eq!(decode_text(&text), Ok(bytes));
    }
}
