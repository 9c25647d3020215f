//! The wall clock: the PC's CMOS real-time clock, read once at boot, plus the time since
//! then. Under QEMU the RTC holds the host's time (UTC), so `date` in a container shows the
//! real date.

use spin::Once;
use x86_64::instructions::port::Port;

const CMOS_SELECT: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;

/// Seconds since the Unix epoch when [`init`] ran.
static BOOT_EPOCH_SECONDS: Once<i64> = Once::new();

fn read_register(register: u8) -> u8 {
    let mut select = Port::<u8>::new(CMOS_SELECT);
    let mut data = Port::<u8>::new(CMOS_DATA);
    // SAFETY: 0x70/0x71 are the CMOS index and data ports of every PC; selecting a register
    // (with the NMI-disable bit clear, as the firmware left it) and reading it has no other
    // effect, and nothing else in the kernel uses these ports.
    unsafe {
        select.write(register & 0x7f);
        data.read()
    }
}

fn from_bcd(value: u8) -> u8 {
    (value & 0x0f) + (value >> 4) * 10
}

/// Days from 1970-01-01 to `year-month-day` (proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads the RTC (waiting out an update in progress) and remembers the time.
pub fn init() {
    BOOT_EPOCH_SECONDS.call_once(|| {
        // Register A bit 7: an update is in progress and the values may be torn.
        let mut spins = 0u32;
        while read_register(0x0a) & 0x80 != 0 && spins < 1_000_000 {
            spins += 1;
        }
        let status_b = read_register(0x0b);
        let binary = status_b & 0x04 != 0;
        let hour_24 = status_b & 0x02 != 0;
        let decode = |value: u8| if binary { value } else { from_bcd(value) };
        let second = decode(read_register(0x00));
        let minute = decode(read_register(0x02));
        let raw_hour = read_register(0x04);
        let pm = raw_hour & 0x80 != 0;
        let mut hour = decode(raw_hour & 0x7f);
        if !hour_24 {
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        let day = decode(read_register(0x07));
        let month = decode(read_register(0x08));
        let year = 2000 + i64::from(decode(read_register(0x09)));
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return 0;
        }
        days_from_civil(year, i64::from(month), i64::from(day)) * 86_400
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second)
    });
}

/// Seconds since the Unix epoch at boot (0 if the RTC could not be read).
pub fn boot_epoch_seconds() -> i64 {
    BOOT_EPOCH_SECONDS.get().copied().unwrap_or(0)
}
