//! The console's line discipline as a user at the keyboard and a program see it.

use std::sync::{Arc, Mutex};

use core::mem::{offset_of, size_of};
use linux_raw_sys::general::{termios, winsize, ECHO, ICANON, O_RDWR, SIGINT, VMIN};
use linux_raw_sys::ioctl::{
    FIONREAD, TCFLSH, TCGETS, TCSETS, TCSETSF, TIOCGPGRP, TIOCGWINSZ, TIOCSPGRP, TIOCSWINSZ,
};
use overlay_syscalls::tty::{ConsoleOutput, Terminal, Termios};
use overlay_syscalls::user::{read_u32, write_u32, FlatMemory, StructReader, UserMemory};
use overlay_syscalls::Errno;

/// The serial port, as a buffer of everything written to it.
#[derive(Default)]
struct Screen(Mutex<Vec<u8>>);

impl ConsoleOutput for Screen {
    fn write(&self, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
}

impl Screen {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn terminal() -> (Arc<Terminal>, Arc<Screen>) {
    let screen = Arc::new(Screen::default());
    (Terminal::new(screen.clone()), screen)
}

fn type_bytes(terminal: &Terminal, bytes: &[u8]) {
    for &byte in bytes {
        terminal.input(byte);
    }
}

fn read(terminal: &Terminal) -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; 256];
    let count = terminal.read(&mut buf)?;
    Ok(buf[..count].to_vec())
}

#[test]
fn canonical_line_is_edited_and_echoed() {
    let (terminal, screen) = terminal();
    type_bytes(&terminal, b"ab\x7fc");
    // No complete line yet: the reader waits.
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
    type_bytes(&terminal, b"\r");
    assert_eq!(read(&terminal).unwrap(), b"ac\n");
    assert_eq!(screen.take(), b"ab\x08 \x08c\r\n");
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
}

#[test]
fn erase_at_an_empty_line_does_nothing() {
    let (terminal, screen) = terminal();
    type_bytes(&terminal, b"\x7f\x7fx\n");
    assert_eq!(read(&terminal).unwrap(), b"x\n");
    assert_eq!(screen.take(), b"x\r\n");
}

#[test]
fn kill_erases_the_whole_line() {
    let (terminal, screen) = terminal();
    type_bytes(&terminal, b"abc\x15d\r");
    assert_eq!(read(&terminal).unwrap(), b"d\n");
    assert_eq!(screen.take(), b"abc\x08 \x08\x08 \x08\x08 \x08d\r\n");
}

#[test]
fn a_read_returns_one_line_at_a_time() {
    let (terminal, _screen) = terminal();
    type_bytes(&terminal, b"one\rtwo\r");
    assert_eq!(read(&terminal).unwrap(), b"one\n");
    let mut small = [0u8; 2];
    assert_eq!(terminal.read(&mut small), Ok(2));
    assert_eq!(&small, b"tw");
    assert_eq!(read(&terminal).unwrap(), b"o\n");
}

#[test]
fn ctrl_d_at_line_start_is_end_of_file() {
    let (terminal, screen) = terminal();
    type_bytes(&terminal, b"\x04");
    assert_eq!(read(&terminal).unwrap(), b"");
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
    // After text, ^D hands the line over without a newline, and echoes nothing.
    type_bytes(&terminal, b"ab\x04");
    assert_eq!(read(&terminal).unwrap(), b"ab");
    assert_eq!(screen.take(), b"ab");
}

#[test]
fn ctrl_c_signals_the_foreground_group_and_discards_the_line() {
    let (terminal, screen) = terminal();
    terminal.set_foreground(42);
    type_bytes(&terminal, b"sleep 10\x03");
    assert_eq!(terminal.take_signals(), vec![(42, SIGINT)]);
    assert_eq!(terminal.take_signals(), vec![]);
    assert_eq!(screen.take(), b"sleep 10^C");
    type_bytes(&terminal, b"\r");
    assert_eq!(read(&terminal).unwrap(), b"\n");
}

#[test]
fn ctrl_c_without_a_foreground_group_signals_nobody() {
    let (terminal, _screen) = terminal();
    type_bytes(&terminal, b"\x03");
    assert_eq!(terminal.take_signals(), vec![]);
}

#[test]
fn raw_mode_passes_bytes_as_they_come() {
    let (terminal, screen) = terminal();
    let mut raw = Termios::default();
    raw.lflag &= !(ICANON | ECHO);
    terminal.set_termios(raw);
    // An arrow key's escape sequence and a DEL reach the program as typed, without echo.
    type_bytes(&terminal, b"\x1b[A\x7f");
    assert_eq!(read(&terminal).unwrap(), b"\x1b[A\x7f");
    assert_eq!(screen.take(), b"");
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
    // ICRNL still applies; ^D is an ordinary byte.
    type_bytes(&terminal, b"\r\x04");
    assert_eq!(read(&terminal).unwrap(), b"\n\x04");
    // VMIN = 0: a read returns at once, with what there is.
    raw.cc[VMIN as usize] = 0;
    terminal.set_termios(raw);
    assert_eq!(read(&terminal).unwrap(), b"");
}

#[test]
fn raw_mode_waits_for_vmin_bytes() {
    let (terminal, _screen) = terminal();
    let mut raw = Termios::default();
    raw.lflag &= !ICANON;
    raw.cc[VMIN as usize] = 3;
    terminal.set_termios(raw);
    type_bytes(&terminal, b"ab");
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
    type_bytes(&terminal, b"c");
    assert_eq!(read(&terminal).unwrap(), b"abc");
}

#[test]
fn leaving_canonical_mode_hands_over_the_unfinished_line() {
    let (terminal, _screen) = terminal();
    type_bytes(&terminal, b"par");
    let mut raw = Termios::default();
    raw.lflag &= !ICANON;
    terminal.set_termios(raw);
    assert_eq!(read(&terminal).unwrap(), b"par");
}

#[test]
fn output_newlines_become_crlf() {
    let (terminal, screen) = terminal();
    let file = terminal.open(O_RDWR);
    assert_eq!(file.write(b"a\nb\n"), Ok(4));
    assert_eq!(screen.take(), b"a\r\nb\r\n");
    assert_eq!(file.describe(), "/dev/console");
}

#[test]
fn tcgets_answers_linux_console_defaults() {
    let (terminal, _screen) = terminal();
    let file = terminal.open(O_RDWR);
    let mut memory = FlatMemory::new(0x1000, 4096);
    assert_eq!(file.ioctl(TCGETS, 0x1000, &mut memory), Ok(0));
    let got = StructReader::read_from(&memory, 0x1000, size_of::<termios>()).unwrap();
    let lflag = got.u32(offset_of!(termios, c_lflag));
    assert_ne!(lflag & ICANON, 0);
    assert_ne!(lflag & ECHO, 0);
    let cc = &got.bytes()[offset_of!(termios, c_cc)..];
    assert_eq!(cc[linux_raw_sys::general::VINTR as usize], 0x03);
    assert_eq!(cc[linux_raw_sys::general::VEOF as usize], 0x04);
    assert_eq!(cc[linux_raw_sys::general::VERASE as usize], 0x7f);
    assert_eq!(file.ioctl(TCGETS, 0x9000, &mut memory), Err(Errno::EFAULT));
}

#[test]
fn tcsets_switches_to_raw_mode_and_tcsetsf_flushes_input() {
    let (terminal, _screen) = terminal();
    let file = terminal.open(O_RDWR);
    let mut memory = FlatMemory::new(0x1000, 4096);
    file.ioctl(TCGETS, 0x1000, &mut memory).unwrap();
    let at = 0x1000 + offset_of!(termios, c_lflag) as u64;
    let lflag = read_u32(&memory, at).unwrap();
    write_u32(&mut memory, at, lflag & !(ICANON | ECHO)).unwrap();
    type_bytes(&terminal, b"typed ahead");
    assert_eq!(file.ioctl(TCSETSF, 0x1000, &mut memory), Ok(0));
    assert_eq!(terminal.termios().lflag & ICANON, 0);
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
    type_bytes(&terminal, b"k");
    assert_eq!(file.read(&mut [0u8; 4]), Ok(1));
    write_u32(&mut memory, at, lflag).unwrap();
    assert_eq!(file.ioctl(TCSETS, 0x1000, &mut memory), Ok(0));
    assert_ne!(terminal.termios().lflag & ICANON, 0);
}

#[test]
fn window_size_defaults_to_80_by_24_and_is_stored() {
    let (terminal, _screen) = terminal();
    let file = terminal.open(O_RDWR);
    let mut memory = FlatMemory::new(0x1000, 4096);
    file.ioctl(TIOCGWINSZ, 0x1000, &mut memory).unwrap();
    let got = StructReader::read_from(&memory, 0x1000, size_of::<winsize>()).unwrap();
    let row = got.u32(offset_of!(winsize, ws_row)) & 0xffff;
    let col = got.u32(offset_of!(winsize, ws_col)) & 0xffff;
    assert_eq!((row, col), (24, 80));
    memory.write(0x1100, &[50, 0, 132, 0, 0, 0, 0, 0]).unwrap();
    file.ioctl(TIOCSWINSZ, 0x1100, &mut memory).unwrap();
    assert_eq!(terminal.window().rows, 50);
    assert_eq!(terminal.window().cols, 132);
}

#[test]
fn foreground_group_is_set_and_read_back() {
    let (terminal, _screen) = terminal();
    let file = terminal.open(O_RDWR);
    let mut memory = FlatMemory::new(0x1000, 4096);
    write_u32(&mut memory, 0x1000, 7).unwrap();
    assert_eq!(file.ioctl(TIOCSPGRP, 0x1000, &mut memory), Ok(0));
    assert_eq!(file.ioctl(TIOCGPGRP, 0x1010, &mut memory), Ok(0));
    assert_eq!(read_u32(&memory, 0x1010), Ok(7));
    write_u32(&mut memory, 0x1000, u32::MAX).unwrap();
    assert_eq!(
        file.ioctl(TIOCSPGRP, 0x1000, &mut memory),
        Err(Errno::EINVAL)
    );
}

#[test]
fn fionread_counts_complete_lines_and_tcflsh_discards_them() {
    let (terminal, _screen) = terminal();
    let file = terminal.open(O_RDWR);
    let mut memory = FlatMemory::new(0x1000, 4096);
    type_bytes(&terminal, b"ls\rpartial");
    file.ioctl(FIONREAD, 0x1000, &mut memory).unwrap();
    assert_eq!(read_u32(&memory, 0x1000), Ok(3));
    let tciflush = u64::from(linux_raw_sys::general::TCIFLUSH);
    assert_eq!(file.ioctl(TCFLSH, tciflush, &mut memory), Ok(0));
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
    assert_eq!(file.ioctl(TCFLSH, 9, &mut memory), Err(Errno::EINVAL));
}

#[test]
fn unknown_requests_are_enotty() {
    let (terminal, _screen) = terminal();
    let file = terminal.open(O_RDWR);
    let mut memory = FlatMemory::new(0x1000, 4096);
    assert_eq!(
        file.ioctl(0x5401 + 0x1000, 0x1000, &mut memory),
        Err(Errno::ENOTTY)
    );
    // A pipe is no terminal.
    let (pipe, _) = overlay_syscalls::pipe::new_pipe();
    assert_eq!(pipe.ioctl(TCGETS, 0x1000, &mut memory), Err(Errno::ENOTTY));
}

#[test]
fn word_erase_removes_the_last_word_and_its_blanks() {
    let (terminal, screen) = terminal();
    type_bytes(&terminal, b"ls -l \x17x\r");
    assert_eq!(read(&terminal).unwrap(), b"ls x\n");
    assert_eq!(screen.take(), b"ls -l \x08 \x08\x08 \x08\x08 \x08x\r\n");
}

#[test]
fn control_characters_echo_as_caret_and_erase_as_two_columns() {
    let (terminal, screen) = terminal();
    type_bytes(&terminal, b"a\x1b\x7f\r");
    assert_eq!(read(&terminal).unwrap(), b"a\n");
    assert_eq!(screen.take(), b"a^[\x08 \x08\x08 \x08\r\n");
}

#[test]
fn ctrl_c_signals_in_raw_mode_too_while_isig_is_set() {
    let (terminal, _screen) = terminal();
    terminal.set_foreground(3);
    let mut raw = Termios::default();
    raw.lflag &= !(ICANON | ECHO);
    terminal.set_termios(raw);
    type_bytes(&terminal, b"ab\x03");
    assert_eq!(terminal.take_signals(), vec![(3, SIGINT)]);
    assert_eq!(read(&terminal), Err(Errno::EAGAIN));
    raw.lflag &= !linux_raw_sys::general::ISIG;
    terminal.set_termios(raw);
    type_bytes(&terminal, b"\x03");
    assert_eq!(terminal.take_signals(), vec![]);
    assert_eq!(read(&terminal).unwrap(), b"\x03");
}

#[test]
fn readable_tells_whether_a_read_would_block() {
    let (terminal, _screen) = terminal();
    assert!(!terminal.readable());
    type_bytes(&terminal, b"x");
    assert!(!terminal.readable());
    type_bytes(&terminal, b"\r");
    assert!(terminal.readable());
}

#[test]
fn poll_reports_input_once_a_line_is_complete() {
    use linux_raw_sys::general::{POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
    use overlay_syscalls::tty::TerminalFile;
    let (terminal, _screen) = terminal();
    let file = terminal.open(O_RDWR);
    let console = file.as_any().downcast_ref::<TerminalFile>().unwrap();
    assert_eq!(console.poll_events(), POLLOUT | POLLWRNORM);
    type_bytes(&terminal, b"y\r");
    assert_eq!(
        console.poll_events(),
        POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM
    );
}
