//! A `log` backend that writes one line per record to the serial console.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct SerialLogger;

static LOGGER: SerialLogger = SerialLogger;

impl Log for SerialLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        crate::serial::start_line();
        crate::println!("[{level}] {}: {}", record.target(), record.args());
    }

    fn flush(&self) {}
}

/// Installs the serial logger at `Info` level. Call once, after `serial::init`.
pub fn init() {
    // `set_logger` only fails if a logger is already installed, which would be a second call.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}
