// SPDX-License-Identifier: AGPL-3.0-or-later
//! Kernel command-line parsing.
//!
//! The command line is Linux-style: tokens separated by ASCII whitespace, each either
//! `key=value` or a bare `flag`. Double quotes group spaces into one token (`key="a b"`, or
//! the whole token `"key=a b"`); the quotes around a value are removed, quotes elsewhere are
//! kept as they are (nothing is copied, every result borrows the command line). Keys match
//! exactly, and when a key is repeated the last `key=value` wins. Unknown keys are ignored.
//!
//! [`parse`] extracts the kernel's own settings into [`KernelArgs`]; invalid values fall
//! back to the defaults and are reported as [`ArgWarning`]s.

/// Timer tick rate when `cambios.hz` is absent or invalid.
pub const DEFAULT_TIMER_HZ: u32 = 100;
/// Lowest accepted `cambios.hz`.
pub const MIN_TIMER_HZ: u32 = 10;
/// Highest accepted `cambios.hz`.
pub const MAX_TIMER_HZ: u32 = 1000;

/// Key of the timer tick rate in Hz.
pub const KEY_TIMER_HZ: &str = "cambios.hz";
/// Key of the log level.
pub const KEY_LOG: &str = "cambios.log";
/// Key selecting a boot self-test.
pub const KEY_TEST: &str = "cambios.test";
/// Key limiting the CPUs started (the boot CPU included).
pub const KEY_MAX_CPUS: &str = "cambios.maxcpus";

/// One command-line token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg<'a> {
    /// The key (the whole token for a flag).
    pub key: &'a str,
    /// The value after the first `=`, without surrounding quotes; `None` for a bare flag.
    pub value: Option<&'a str>,
}

/// Iterator over the tokens of a command line (see [`args`]).
#[derive(Clone, Debug)]
pub struct Args<'a> {
    rest: &'a str,
    unterminated: bool,
}

/// The tokens of `cmdline`, in order.
pub fn args(cmdline: &str) -> Args<'_> {
    Args { rest: cmdline, unterminated: false }
}

impl<'a> Args<'a> {
    /// True once a token ending inside an open double quote has been returned.
    pub fn saw_unterminated_quote(&self) -> bool {
        self.unterminated
    }
}

/// `s` without one leading `"` and, if present, one trailing `"`.
fn unquote(s: &str) -> &str {
    match s.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"').unwrap_or(inner),
        None => s,
    }
}

impl<'a> Iterator for Args<'a> {
    type Item = Arg<'a>;

    fn next(&mut self) -> Option<Arg<'a>> {
        let rest = self.rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if rest.is_empty() {
            self.rest = rest;
            return None;
        }
        let mut in_quote = false;
        let mut end = rest.len();
        for (i, b) in rest.bytes().enumerate() {
            if b == b'"' {
                in_quote = !in_quote;
            } else if !in_quote && b.is_ascii_whitespace() {
                end = i;
                break;
            }
        }
        if in_quote {
            self.unterminated = true;
        }
        // `end` is at an ASCII byte or the end, so both halves are valid slices.
        let token = rest.get(..end).unwrap_or(rest);
        self.rest = rest.get(end..).unwrap_or("");
        let token = unquote(token);
        Some(match token.split_once('=') {
            Some((key, value)) => Arg { key, value: Some(unquote(value)) },
            None => Arg { key: token, value: None },
        })
    }
}

/// The value of the last `key=value` token for `key` (`Some("")` for `key=`).
pub fn value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    if key.is_empty() {
        return None;
    }
    args(cmdline).filter(|a| a.key == key).filter_map(|a| a.value).last()
}

/// True when `key` appears as a bare flag (without `=`).
pub fn has_flag(cmdline: &str, key: &str) -> bool {
    !key.is_empty() && args(cmdline).any(|a| a.key == key && a.value.is_none())
}

/// Kernel log verbosity; later levels include the earlier ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Normal boot messages (the default).
    #[default]
    Info,
    /// Everything.
    Debug,
}

impl LogLevel {
    /// Lower-case name: `"error"`, `"warn"`, `"info"` or `"debug"`.
    pub const fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// Parses a name from [`LogLevel::name`] (ASCII case-insensitive; `warning` is accepted).
    pub fn from_name(name: &str) -> Option<LogLevel> {
        [LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug]
            .into_iter()
            .find(|l| name.eq_ignore_ascii_case(l.name()))
            .or(if name.eq_ignore_ascii_case("warning") { Some(LogLevel::Warn) } else { None })
    }
}

/// The kernel's settings from the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelArgs<'a> {
    /// Timer tick rate in Hz (`cambios.hz`, [`MIN_TIMER_HZ`]..=[`MAX_TIMER_HZ`]).
    pub timer_hz: u32,
    /// Log level (`cambios.log`).
    pub log_level: LogLevel,
    /// Boot self-test to run (`cambios.test`).
    pub test: Option<&'a str>,
    /// Most CPUs to start, the boot CPU included (`cambios.maxcpus`, at least 1; `None`:
    /// every CPU the firmware lists).
    pub max_cpus: Option<u32>,
}

impl Default for KernelArgs<'_> {
    fn default() -> Self {
        KernelArgs { timer_hz: DEFAULT_TIMER_HZ, log_level: LogLevel::Info, test: None, max_cpus: None }
    }
}

/// A problem found by [`parse`]; the setting concerned keeps its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgWarning {
    /// `cambios.hz` is missing its value, not a number, or outside 10..=1000.
    BadTimerHz,
    /// `cambios.log` is missing its value or not a known level.
    BadLogLevel,
    /// `cambios.test` is missing its value or has an empty one.
    EmptyTest,
    /// A double quote is never closed (the token runs to the end of the line).
    UnterminatedQuote,
    /// `cambios.maxcpus` is missing its value, not a number, or 0.
    BadMaxCpus,
}

impl ArgWarning {
    /// A short human-readable description.
    pub const fn as_str(self) -> &'static str {
        match self {
            ArgWarning::BadTimerHz => "cambios.hz must be a number from 10 to 1000; using 100",
            ArgWarning::BadLogLevel => "cambios.log must be error, warn, info or debug; using info",
            ArgWarning::EmptyTest => "cambios.test has no value; ignored",
            ArgWarning::UnterminatedQuote => "unterminated double quote in the command line",
            ArgWarning::BadMaxCpus => "cambios.maxcpus must be a number of CPUs from 1 up; starting every CPU",
        }
    }
}

/// Capacity of [`ArgWarnings`].
pub const MAX_WARNINGS: usize = 8;

/// A fixed-capacity list of warnings (extra warnings are counted, not stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgWarnings {
    list: [ArgWarning; MAX_WARNINGS],
    len: usize,
    dropped: usize,
}

impl Default for ArgWarnings {
    fn default() -> Self {
        Self::new()
    }
}

impl ArgWarnings {
    /// An empty list.
    pub const fn new() -> Self {
        ArgWarnings { list: [ArgWarning::UnterminatedQuote; MAX_WARNINGS], len: 0, dropped: 0 }
    }

    /// Records a warning (counted in [`ArgWarnings::dropped`] when the list is full).
    pub fn push(&mut self, warning: ArgWarning) {
        match self.list.get_mut(self.len) {
            Some(slot) => {
                *slot = warning;
                self.len += 1;
            }
            None => self.dropped = self.dropped.saturating_add(1),
        }
    }

    /// The recorded warnings, in the order found.
    pub fn as_slice(&self) -> &[ArgWarning] {
        self.list.get(..self.len).unwrap_or(&[])
    }

    /// Number of recorded warnings.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no warnings.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.dropped == 0
    }

    /// Warnings that did not fit.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// True when `warning` was recorded.
    pub fn contains(&self, warning: ArgWarning) -> bool {
        self.as_slice().contains(&warning)
    }

    /// The recorded warnings.
    pub fn iter(&self) -> core::slice::Iter<'_, ArgWarning> {
        self.as_slice().iter()
    }
}

/// The last `key=value` value of a key, and whether a bare `key` was seen.
#[derive(Clone, Copy, Default)]
struct Seen<'a> {
    value: Option<&'a str>,
    bare: bool,
}

impl<'a> Seen<'a> {
    fn record(&mut self, arg: &Arg<'a>) {
        match arg.value {
            Some(v) => self.value = Some(v),
            None => self.bare = true,
        }
    }
    /// The value, or `Err(())` when the key appeared only as a bare flag.
    fn get(&self) -> Result<Option<&'a str>, ()> {
        match (self.value, self.bare) {
            (None, true) => Err(()),
            (v, _) => Ok(v),
        }
    }
}

/// Extracts the kernel's settings from `cmdline`. Invalid values keep the default and add a
/// warning; unknown keys are ignored.
pub fn parse(cmdline: &str) -> (KernelArgs<'_>, ArgWarnings) {
    let mut hz = Seen::default();
    let mut log = Seen::default();
    let mut test = Seen::default();
    let mut max_cpus = Seen::default();
    let mut tokens = args(cmdline);
    for arg in tokens.by_ref() {
        match arg.key {
            KEY_TIMER_HZ => hz.record(&arg),
            KEY_LOG => log.record(&arg),
            KEY_TEST => test.record(&arg),
            KEY_MAX_CPUS => max_cpus.record(&arg),
            _ => {}
        }
    }

    let mut out = KernelArgs::default();
    let mut warnings = ArgWarnings::new();
    match hz.get() {
        Ok(None) => {}
        Ok(Some(v)) => match v.parse::<u32>() {
            Ok(n) if (MIN_TIMER_HZ..=MAX_TIMER_HZ).contains(&n) => out.timer_hz = n,
            _ => warnings.push(ArgWarning::BadTimerHz),
        },
        Err(()) => warnings.push(ArgWarning::BadTimerHz),
    }
    match log.get() {
        Ok(None) => {}
        Ok(Some(v)) => match LogLevel::from_name(v) {
            Some(level) => out.log_level = level,
            None => warnings.push(ArgWarning::BadLogLevel),
        },
        Err(()) => warnings.push(ArgWarning::BadLogLevel),
    }
    match test.get() {
        Ok(None) => {}
        Ok(Some("")) | Err(()) => warnings.push(ArgWarning::EmptyTest),
        Ok(Some(v)) => out.test = Some(v),
    }
    match max_cpus.get() {
        Ok(None) => {}
        Ok(Some(v)) => match v.parse::<u32>() {
            Ok(n) if n >= 1 => out.max_cpus = Some(n),
            _ => warnings.push(ArgWarning::BadMaxCpus),
        },
        Err(()) => warnings.push(ArgWarning::BadMaxCpus),
    }
    if tokens.saw_unterminated_quote() {
        warnings.push(ArgWarning::UnterminatedQuote);
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn all(cmdline: &str) -> Vec<(&str, Option<&str>)> {
        args(cmdline).map(|a| (a.key, a.value)).collect()
    }

    #[test]
    fn max_cpus() {
        assert_eq!(parse("").0.max_cpus, None);
        assert_eq!(parse("cambios.maxcpus=2").0.max_cpus, Some(2));
        assert_eq!(parse("cambios.maxcpus=1 quiet").0.max_cpus, Some(1));
        for bad in ["cambios.maxcpus=0", "cambios.maxcpus=two", "cambios.maxcpus", "cambios.maxcpus=-1"] {
            let (args, warnings) = parse(bad);
            assert_eq!(args.max_cpus, None, "{bad}");
            assert!(warnings.contains(ArgWarning::BadMaxCpus), "{bad}");
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(all(""), []);
        assert_eq!(all("   \t\n "), []);
        assert_eq!(
            all("  console=ttyS0,115200 quiet\tro  root=/dev/vda1 "),
            [("console", Some("ttyS0,115200")), ("quiet", None), ("ro", None), ("root", Some("/dev/vda1"))]
        );
        assert_eq!(all("a==b c= =d"), [("a", Some("=b")), ("c", Some("")), ("", Some("d"))]);
    }

    #[test]
    fn quoting() {
        assert_eq!(
            all(r#"msg="hello  world" x=1 "whole=quoted token" y"#),
            [("msg", Some("hello  world")), ("x", Some("1")), ("whole", Some("quoted token")), ("y", None)]
        );
        // Quotes inside a value are kept; only surrounding ones are removed.
        assert_eq!(all(r#"a=x"y z"w b"#), [("a", Some(r#"x"y z"w"#)), ("b", None)]);
        assert_eq!(value(r#"k="" j"#, "k"), Some(""));
        // An unterminated quote runs to the end of the line.
        let mut it = args(r#"a=1 b="open ended c=3"#);
        assert_eq!(it.next(), Some(Arg { key: "a", value: Some("1") }));
        assert!(!it.saw_unterminated_quote());
        assert_eq!(it.next(), Some(Arg { key: "b", value: Some("open ended c=3") }));
        assert!(it.saw_unterminated_quote());
        assert_eq!(it.next(), None);
        // Non-ASCII text passes through.
        assert_eq!(value("name=Grüße  k=ü", "name"), Some("Grüße"));
        assert_eq!(value(r#"t="δ ε""#, "t"), Some("δ ε"));
    }

    #[test]
    fn values_and_flags() {
        let line = "cambios.hz=200 debug cambios.hz=300 cambios.log cambios.hzz=5 x.cambios.hz=7";
        assert_eq!(value(line, "cambios.hz"), Some("300"));
        assert_eq!(value(line, "cambios.hzz"), Some("5"));
        assert_eq!(value(line, "cambios.h"), None);
        assert_eq!(value(line, "debug"), None);
        assert_eq!(value(line, "cambios.log"), None);
        assert_eq!(value(line, ""), None);
        assert!(has_flag(line, "debug"));
        assert!(has_flag(line, "cambios.log"));
        assert!(!has_flag(line, "cambios.hz"));
        assert!(!has_flag(line, "debu"));
        assert!(!has_flag(line, ""));
        assert!(!has_flag("", "debug"));
        assert_eq!(value("", "cambios.hz"), None);
    }

    #[test]
    fn log_levels() {
        assert!(LogLevel::Error < LogLevel::Warn);
        assert!(LogLevel::Warn < LogLevel::Info);
        assert!(LogLevel::Info < LogLevel::Debug);
        for l in [LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug] {
            assert_eq!(LogLevel::from_name(l.name()), Some(l));
        }
        assert_eq!(LogLevel::from_name("DEBUG"), Some(LogLevel::Debug));
        assert_eq!(LogLevel::from_name("warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::from_name("trace"), None);
        assert_eq!(LogLevel::from_name(""), None);
        assert_eq!(LogLevel::default(), LogLevel::Info);
    }

    #[test]
    fn parse_defaults() {
        for line in ["", "   ", "console=ttyS0 quiet", "cambios.hzz=5 cambios.logx=debug xcambios.test=a"] {
            let (a, w) = parse(line);
            assert_eq!(a, KernelArgs::default(), "{line:?}");
            assert_eq!(a.timer_hz, DEFAULT_TIMER_HZ);
            assert!(w.is_empty());
        }
    }

    #[test]
    fn parse_values() {
        let (a, w) = parse("quiet cambios.hz=250 cambios.log=debug cambios.test=ticks other=1");
        assert_eq!(a, KernelArgs { timer_hz: 250, log_level: LogLevel::Debug, test: Some("ticks"), max_cpus: None });
        assert!(w.is_empty());
        // Last occurrence wins, even over an earlier invalid one.
        let (a, w) = parse("cambios.hz=5 cambios.hz=1000 cambios.log=bogus cambios.log=warn");
        assert_eq!((a.timer_hz, a.log_level), (1000, LogLevel::Warn));
        assert!(w.is_empty());
        let (a, _) = parse("cambios.hz=10");
        assert_eq!(a.timer_hz, 10);
        let (a, _) = parse(r#"cambios.test="a b""#);
        assert_eq!(a.test, Some("a b"));
    }

    #[test]
    fn parse_invalid_values_warn_and_default() {
        for bad in ["9", "1001", "0", "-100", "abc", "", "100hz", "4294967296", "1e3"] {
            let line = std::format!("cambios.hz={bad} cambios.log=info");
            let (a, w) = parse(&line);
            assert_eq!(a.timer_hz, DEFAULT_TIMER_HZ, "{bad}");
            assert_eq!(w.as_slice(), [ArgWarning::BadTimerHz], "{bad}");
        }
        let (a, w) = parse("cambios.log=verbose");
        assert_eq!(a.log_level, LogLevel::Info);
        assert_eq!(w.as_slice(), [ArgWarning::BadLogLevel]);
        let (a, w) = parse("cambios.test= cambios.hz cambios.log");
        assert_eq!(a, KernelArgs::default());
        assert_eq!(w.as_slice(), [ArgWarning::BadTimerHz, ArgWarning::BadLogLevel, ArgWarning::EmptyTest]);
        assert!(w.contains(ArgWarning::EmptyTest));
        assert_eq!(w.len(), 3);
        // A bare key next to a valid value: the value wins.
        let (a, w) = parse("cambios.hz cambios.hz=500");
        assert_eq!(a.timer_hz, 500);
        assert!(w.is_empty());
        let (a, w) = parse(r#"cambios.test="x y"#);
        assert_eq!(a.test, Some("x y"));
        assert_eq!(w.iter().copied().collect::<Vec<_>>(), [ArgWarning::UnterminatedQuote]);
    }

    #[test]
    fn warning_list_capacity() {
        let mut w = ArgWarnings::default();
        assert!(w.is_empty());
        for _ in 0..MAX_WARNINGS + 3 {
            w.push(ArgWarning::BadTimerHz);
        }
        assert_eq!(w.len(), MAX_WARNINGS);
        assert_eq!(w.dropped(), 3);
        assert!(!w.is_empty());
        let texts =
            [ArgWarning::BadTimerHz, ArgWarning::BadLogLevel, ArgWarning::EmptyTest, ArgWarning::UnterminatedQuote]
                .map(ArgWarning::as_str);
        for (i, t) in texts.iter().enumerate() {
            assert!(!texts[i + 1..].contains(t));
        }
    }
}
