//! Random cases: a small layer stack and a script over the same few names, from a seed.
//!
//! The same seed gives the same case on every machine and in every version of the
//! dependencies: the generator uses its own SplitMix64, not a crate's RNG. Names come from a
//! small pool (`a`, `b`, `c` at the top, a few below them, one nested directory), so that
//! commands meet entries of every layer, whiteouts and opaque directories often.

use super::case::{Case, LayerSpec};

/// SplitMix64: small, fast, and fixed forever.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Entries a layer may hold: (path, may be a directory).
const LAYER_PATHS: &[(&str, bool)] = &[
    ("a", true),
    ("a/x", false),
    ("a/y", false),
    ("a/s", true),
    ("a/s/z", false),
    ("b", true),
    ("b/x", false),
    ("c", false),
];

/// Paths commands use: the layer entries, names no layer has, and a few odd spellings.
const SCRIPT_PATHS: &[&str] = &[
    "/a",
    "/a/x",
    "/a/y",
    "/a/s",
    "/a/s/z",
    "/b",
    "/b/x",
    "/c",
    "/a/n",
    "/n",
    "/b/n",
    "/a/s/n",
    "/a/",
    "/c/",
    "/a/../b/x",
    "/l",
];

const XATTR_NAMES: &[&str] = &["user.k", "user.m", "trusted.overlay.opaque", "trusted.t"];

/// A random case: 1 to 3 lowers (with an upper layer, or one time in ten none) and 4 to 24
/// commands, then `tree /`.
pub fn case(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let layer_count = 1 + rng.below(3) as usize;
    let lowers = (0..layer_count)
        .map(|index| layer(&mut rng, index + 1 == layer_count))
        .collect();
    let upper = !rng.chance(10);
    let command_count = 4 + rng.below(21);
    let mut script = String::new();
    for _ in 0..command_count {
        script.push_str(&command(&mut rng));
        script.push('\n');
    }
    script.push_str("tree /\n");
    Case {
        name: format!("seed {seed}"),
        lowers,
        upper,
        upper_capacity_bytes: None,
        script,
    }
}

fn layer(rng: &mut Rng, bottom: bool) -> LayerSpec {
    let mut lines = Vec::new();
    let mut dirs: Vec<&str> = Vec::new();
    let mut files: Vec<&str> = Vec::new();
    for &(path, may_be_dir) in LAYER_PATHS {
        let parent_is_dir = match path.rsplit_once('/') {
            Some((parent, _)) => dirs.contains(&parent),
            None => true,
        };
        if !parent_is_dir || rng.chance(40) {
            continue;
        }
        let roll = rng.below(100);
        let line = if may_be_dir && roll < 55 {
            dirs.push(path);
            if !bottom && rng.chance(20) {
                format!("o {path}")
            } else {
                format!("d {path}")
            }
        } else if roll < 75 {
            files.push(path);
            format!("f {path} {}", text(rng)).trim_end().to_string()
        } else if roll < 83 {
            let target = *rng.pick(&["x", "../c", "/a/x", "/b", "s", "nowhere"]);
            format!("l {path} {target}")
        } else if roll < 93 && !bottom {
            format!("w {path}")
        } else if roll < 97 && !files.is_empty() {
            let existing = *rng.pick(&files);
            format!("h {path} {existing}")
        } else {
            format!("p {path}")
        };
        lines.push(line);
    }
    if rng.chance(15) {
        if let Some(&path) = files.first() {
            lines.push(format!("m {path} 0600"));
        }
    }
    if rng.chance(15) {
        if let Some(&path) = dirs.first() {
            lines.push(format!("x {path} user.k v"));
        }
    }
    LayerSpec { lines }
}

/// A short TEXT (no blanks, no escapes), possibly empty.
fn text(rng: &mut Rng) -> String {
    let len = rng.below(7) as usize;
    (0..len)
        .map(|_| *rng.pick(&['q', 'r', 's', 'x', 'y', 'z', '1', ':']))
        .collect()
}

/// A TEXT argument: [`text`], quoted when empty so that the word is there.
fn text_word(rng: &mut Rng) -> String {
    match text(rng) {
        empty if empty.is_empty() => "\"\"".to_string(),
        text => text,
    }
}

fn command(rng: &mut Rng) -> String {
    let p = |rng: &mut Rng| rng.pick(SCRIPT_PATHS).to_string();
    match rng.below(32) {
        0 | 1 => format!("cat {}", p(rng)),
        2 | 3 => format!("stat {}", p(rng)),
        4 => format!("ls {}", p(rng)),
        5 => format!("ls -l {}", p(rng)),
        6 => format!("readlink {}", p(rng)),
        7 | 8 => format!("write {} {}", p(rng), text_word(rng)),
        9 => format!("writeat {} {} {}", p(rng), rng.below(12), text_word(rng)),
        10 => format!("append {} {}", p(rng), text_word(rng)),
        11 => format!("create {}", p(rng)),
        12 => {
            let flags = *rng.pick(&[
                "r",
                "w",
                "rw",
                "r,trunc",
                "w,creat",
                "w,creat,excl",
                "rw,append",
                "r,dir",
                "w,nofollow",
                "creat",
            ]);
            format!("open {} {flags}", p(rng))
        }
        13 => format!("truncate {} {}", p(rng), rng.below(20)),
        14 => format!("touch {}", p(rng)),
        15 | 16 => format!("mkdir {}", p(rng)),
        17 | 18 => format!("rm {}", p(rng)),
        19 | 20 => format!("rmdir {}", p(rng)),
        21 | 22 => format!("mv {} {}", p(rng), p(rng)),
        23 => {
            let flag = *rng.pick(&["-n", "-x"]);
            format!("mv {flag} {} {}", p(rng), p(rng))
        }
        24 => format!("ln {} {}", p(rng), p(rng)),
        25 => {
            let target = *rng.pick(&["x", "/a/x", "../c", "nowhere", "/b"]);
            format!("ln -s {target} {}", p(rng))
        }
        26 => {
            let mode = *rng.pick(&["600", "755", "0", "4755", "1777"]);
            format!("chmod {mode} {}", p(rng))
        }
        27 => {
            let owner = *rng.pick(&["1000:1000", "0:0", "5:", ":7"]);
            format!("chown {owner} {}", p(rng))
        }
        28 => {
            let name = *rng.pick(XATTR_NAMES);
            format!("setxattr {} {name} {}", p(rng), text_word(rng))
        }
        29 => {
            let name = *rng.pick(XATTR_NAMES);
            match rng.below(3) {
                0 => format!("getxattr {} {name}", p(rng)),
                1 => format!("rmxattr {} {name}", p(rng)),
                _ => format!("listxattr {}", p(rng)),
            }
        }
        30 => {
            let who = *rng.pick(&["1000 1000", "0 0"]);
            format!("su {who}")
        }
        _ => format!(
            "mknod {} {}",
            p(rng),
            rng.pick(&["p", "c 1 3", "c 0 0", "b 7 0"])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_give_the_same_case_every_time() {
        assert_eq!(case(7), case(7));
        assert_ne!(case(7).script, case(8).script);
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn generated_cases_parse_back() {
        for seed in 0..50 {
            let case = case(seed);
            assert!(!case.lowers.is_empty());
            assert_eq!(Case::parse(&case.name, &case.to_text()).unwrap(), case);
        }
    }
}
