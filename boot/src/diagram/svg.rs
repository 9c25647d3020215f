//! A small SVG writer: the few elements the diagram uses, built as strings, every text and
//! attribute value escaped. Numbers are written with at most one decimal, so the same drawing
//! is always the same bytes.

use std::fmt::Write;

/// Text for XML: `&`, `<`, `>` and quotes as entities, control characters (which XML 1.0
/// does not allow) as `?`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`] (for the report kept in the drawing).
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A coordinate or length: whole numbers as such, others with one decimal.
pub fn num(value: f64) -> String {
    let tenths = (value * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{}", tenths as i64)
    } else {
        format!("{tenths:.1}")
    }
}

/// How text is set: size, weight, anchor, colour, font.
#[derive(Debug, Clone, Copy)]
pub struct Font {
    pub size: f64,
    pub bold: bool,
    pub mono: bool,
    /// `start`, `middle` or `end`.
    pub anchor: &'static str,
    pub fill: &'static str,
}

impl Font {
    /// Body text: 12 px, sans-serif, left-aligned, dark grey.
    pub const BODY: Font = Font {
        size: 12.0,
        bold: false,
        mono: false,
        anchor: "start",
        fill: "#222",
    };

    pub const fn size(self, size: f64) -> Font {
        Font { size, ..self }
    }

    pub const fn bold(self) -> Font {
        Font { bold: true, ..self }
    }

    pub const fn mono(self) -> Font {
        Font { mono: true, ..self }
    }

    pub const fn middle(self) -> Font {
        Font {
            anchor: "middle",
            ..self
        }
    }

    pub const fn end(self) -> Font {
        Font {
            anchor: "end",
            ..self
        }
    }

    pub const fn fill(self, fill: &'static str) -> Font {
        Font { fill, ..self }
    }

    /// About how wide `chars` characters are set in this font (for fitting text in boxes).
    pub fn width(&self, chars: usize) -> f64 {
        let per_char = if self.mono { 0.61 } else { 0.56 };
        chars as f64 * self.size * per_char * if self.bold { 1.06 } else { 1.0 }
    }

    /// `text` cut with `…` to fit `width`.
    pub fn fit(&self, text: &str, width: f64) -> String {
        let count = text.chars().count();
        if self.width(count) <= width {
            return text.to_owned();
        }
        let keep = (1..count)
            .rev()
            .find(|&n| self.width(n + 1) <= width)
            .unwrap_or(0);
        let mut cut: String = text.chars().take(keep).collect();
        cut.push('…');
        cut
    }
}

/// An SVG document being built.
#[derive(Debug)]
pub struct Svg {
    body: String,
    /// The colours of arrows drawn so far: arrow head `head-N` has colour N.
    heads: Vec<String>,
}

impl Svg {
    pub fn new() -> Svg {
        Svg {
            body: String::new(),
            heads: Vec::new(),
        }
    }

    /// A rectangle with rounded corners `radius`, `fill` and `stroke` (`none` for none).
    #[allow(clippy::too_many_arguments)]
    pub fn rect(
        &mut self,
        x: f64,
        y: f64,
        width: f64,
        height: f64,
        radius: f64,
        fill: &str,
        stroke: &str,
        stroke_width: f64,
    ) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{}" stroke="{}" stroke-width="{}"/>"#,
            num(x),
            num(y),
            num(width),
            num(height),
            num(radius),
            escape(fill),
            escape(stroke),
            num(stroke_width)
        );
    }

    /// One line of text with its baseline at `y`.
    pub fn text(&mut self, x: f64, y: f64, font: Font, text: &str) {
        let family = if font.mono {
            "DejaVu Sans Mono, Menlo, Consolas, monospace"
        } else {
            "DejaVu Sans, Helvetica, Arial, sans-serif"
        };
        let weight = if font.bold {
            r#" font-weight="bold""#
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            r#"<text x="{}" y="{}" font-family="{family}" font-size="{}"{weight} text-anchor="{}" fill="{}">{}</text>"#,
            num(x),
            num(y),
            num(font.size),
            font.anchor,
            escape(font.fill),
            escape(text)
        );
    }

    /// A straight line.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="{}"/>"#,
            num(from.0),
            num(from.1),
            num(to.0),
            num(to.1),
            escape(stroke),
            num(width)
        );
    }

    /// An arrow from `from` to `to`, curved as an S when they are at different heights.
    pub fn arrow(&mut self, from: (f64, f64), to: (f64, f64), stroke: &str, width: f64) {
        let middle = (from.0 + to.0) / 2.0;
        let head = match self.heads.iter().position(|colour| colour == stroke) {
            Some(index) => index,
            None => {
                self.heads.push(stroke.to_owned());
                self.heads.len() - 1
            }
        };
        let _ = writeln!(
            self.body,
            r#"<path d="M{} {} C{} {} {} {} {} {}" fill="none" stroke="{}" stroke-width="{}" marker-end="url(#head-{head})"/>"#,
            num(from.0),
            num(from.1),
            num(middle),
            num(from.1),
            num(middle),
            num(to.1),
            num(to.0 - 1.0),
            num(to.1),
            escape(stroke),
            num(width)
        );
    }

    /// The document: `width` by `height`, titled `title`, with `metadata` kept as text in a
    /// `<metadata>` element.
    pub fn finish(self, width: f64, height: f64, title: &str, metadata: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#,
            w = num(width),
            h = num(height)
        );
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        let _ = writeln!(
            out,
            "<metadata id=\"boot-report\">\n{}</metadata>",
            escape(metadata)
        );
        out.push_str("<defs>\n");
        for (index, colour) in self.heads.iter().enumerate() {
            let _ = writeln!(
                out,
                r#"<marker id="head-{index}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="{}"/></marker>"#,
                escape(colour)
            );
        }
        out.push_str("</defs>\n");
        let _ = writeln!(
            out,
            r##"<rect width="{}" height="{}" fill="#fff"/>"##,
            num(width),
            num(height)
        );
        out.push_str(&self.body);
        out.push_str("</svg>\n");
        out
    }
}

impl Default for Svg {
    fn default() -> Svg {
        Svg::new()
    }
}
