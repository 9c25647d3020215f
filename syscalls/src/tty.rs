//! The console terminal: a line discipline between the serial port and the programs that
//! read and write `/dev/console`, as Linux's `n_tty` is.
//!
//! The kernel owns one [`Terminal`] per console and shares it as `Arc`. It feeds each byte the
//! user types to [`Terminal::input`], implements [`ConsoleOutput`] over the serial port for
//! what programs write and what the terminal echoes, and takes the signals typed keys raise
//! with [`Terminal::take_signals`] (`^C` is `SIGINT` for the foreground process group).
//! Programs reach the terminal through [`TerminalFile`], the open file description of
//! `/dev/console` and `/dev/tty` (see [`Terminal::open`]).
//!
//! What the line discipline does, following `termios(3)`:
//! - input: `IGNCR`, `ICRNL` (a typed CR is a newline) and `INLCR`;
//! - `ISIG`: `VINTR` (`^C`), `VQUIT` (`^\`) and `VSUSP` (`^Z`) raise `SIGINT`, `SIGQUIT` and
//!   `SIGTSTP` for the foreground process group and discard pending input (unless `NOFLSH`);
//! - canonical mode (`ICANON`): a line is edited until a newline, `VEOL`, `VEOL2` or `VEOF`;
//!   `VERASE` (DEL) erases a character (echoed as `"\b \b"` with `ECHOE`), `VWERASE` (`^W`,
//!   with `IEXTEN`) a word, `VKILL` (`^U`) the line; `VEOF` (`^D`) hands the line over without
//!   a newline, so at the start of a line a read returns 0 (end of file); a read returns at
//!   most one line; lines are at most 4095 bytes (more is dropped, as on Linux);
//! - raw mode (`ICANON` off): bytes go to the reader as they come; a read waits for `VMIN`
//!   bytes (at most the buffer's length) and `VMIN` = 0 returns what there is at once;
//! - echo (`ECHO`): typed bytes are written back, control characters as `^X` with `ECHOCTL`;
//!   `ECHONL` echoes newlines alone;
//! - output (`OPOST`): `ONLCR` writes a newline as CR NL.
//!
//! Locking: the terminal's state is behind a spin lock, taken by [`Terminal::input`] and by
//! every read, write and `ioctl`. A kernel must not call `input` from an interrupt handler
//! that can interrupt a system call holding it on the same CPU (it would spin for ever):
//! the serial interrupt queues the bytes, and they are fed from outside the handler (or
//! interrupts are masked around the terminal's calls).
//!
//! Not supported: `VTIME` (timed reads never wait: `VMIN` = 0 returns at once), `IXON` flow
//! control (`^S`/`^Q` are ordinary bytes), `VLNEXT`, `VREPRINT`, `VDISCARD`, job control
//! checks (`SIGTTIN`/`SIGTTOU` for background groups), parity and speed settings (stored and
//! reported, without effect), column tracking for erasing tabs (a tab is erased as one column).

use alloc::{collections::VecDeque, string::String, sync::Arc, vec::Vec};
use core::any::Any;
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU32, Ordering};

use linux_raw_sys::general::{
    termios, winsize, B38400, CREAD, CS8, ECHO, ECHOCTL, ECHOE, ECHOK, ECHOKE, ECHONL, HUPCL,
    ICANON, ICRNL, IEXTEN, IGNCR, INLCR, ISIG, IXON, NOFLSH, ONLCR, OPOST, O_ACCMODE, O_APPEND,
    O_NONBLOCK, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, SIGINT, SIGQUIT, SIGTSTP, TCIFLUSH,
    TCIOFLUSH, TCOFLUSH, VEOF, VEOL, VEOL2, VERASE, VINTR, VKILL, VMIN, VQUIT, VSUSP, VWERASE,
};
use linux_raw_sys::ioctl::{
    FIONREAD, TCFLSH, TCGETS, TCSBRK, TCSETS, TCSETSF, TCSETSW, TCXONC, TIOCGPGRP, TIOCGSID,
    TIOCGWINSZ, TIOCNOTTY, TIOCSCTTY, TIOCSPGRP, TIOCSWINSZ,
};
use overlay_core::vfs::{DeviceId, FileType, Inode, Metadata, Timespec};
use spin::Mutex;

use crate::errno::{Errno, SysResult};
use crate::file::OpenFile;
use crate::user::{self, StructReader, StructWriter, UserMemory};

/// Where the terminal's output goes: the kernel implements it over the serial port.
pub trait ConsoleOutput: Send + Sync {
    /// Writes `bytes` to the console, all of them.
    fn write(&self, bytes: &[u8]);
}

/// Number of control characters in Linux's `struct termios` (`NCCS`).
pub const NCCS: usize = 19;
/// Longest line canonical mode holds, its newline included (Linux's `N_TTY_BUF_SIZE - 1`).
pub const MAX_LINE: usize = 4095;
/// The device number of `/dev/console`.
pub const CONSOLE_RDEV: DeviceId = DeviceId { major: 5, minor: 1 };
/// The device number of `/dev/tty`.
pub const TTY_RDEV: DeviceId = DeviceId { major: 5, minor: 0 };

/// The terminal settings `TCGETS` and `TCSETS` exchange (Linux's kernel `struct termios`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    /// Input modes (`ICRNL`, ...).
    pub iflag: u32,
    /// Output modes (`OPOST`, `ONLCR`, ...).
    pub oflag: u32,
    /// Control modes (speed, character size).
    pub cflag: u32,
    /// Local modes (`ICANON`, `ECHO`, `ISIG`, ...).
    pub lflag: u32,
    /// Line discipline number (0: `N_TTY`).
    pub line: u8,
    /// Control characters, indexed by `VINTR`, `VEOF`, ...; 0 disables one.
    pub cc: [u8; NCCS],
}

impl Default for Termios {
    /// Linux's settings for a new terminal (the kernel's `tty_std_termios`).
    fn default() -> Termios {
        let mut cc = [0u8; NCCS];
        let defaults = [
            (VINTR, 0x03),  // ^C
            (VQUIT, 0x1c),  // ^\
            (VERASE, 0x7f), // DEL
            (VKILL, 0x15),  // ^U
            (VEOF, 0x04),   // ^D
            (VMIN, 1),
            (VSUSP, 0x1a),   // ^Z
            (VWERASE, 0x17), // ^W
        ];
        for (index, value) in defaults {
            cc[index as usize] = value;
        }
        // VSTART ^Q, VSTOP ^S, VREPRINT ^R, VDISCARD ^O, VLNEXT ^V: stored for programs that
        // read them back, without effect here.
        cc[linux_raw_sys::general::VSTART as usize] = 0x11;
        cc[linux_raw_sys::general::VSTOP as usize] = 0x13;
        cc[linux_raw_sys::general::VREPRINT as usize] = 0x12;
        cc[linux_raw_sys::general::VDISCARD as usize] = 0x0f;
        cc[linux_raw_sys::general::VLNEXT as usize] = 0x16;
        Termios {
            iflag: ICRNL | IXON,
            oflag: OPOST | ONLCR,
            cflag: B38400 | CS8 | CREAD | HUPCL,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            cc,
        }
    }
}

impl Termios {
    fn has_l(&self, flag: u32) -> bool {
        self.lflag & flag != 0
    }

    /// Control character `index`, or `None` if it is disabled (0, `_POSIX_VDISABLE`).
    fn control(&self, index: u32) -> Option<u8> {
        match self.cc.get(index as usize) {
            Some(&0) | None => None,
            Some(&c) => Some(c),
        }
    }

    fn is_control(&self, index: u32, byte: u8) -> bool {
        self.control(index) == Some(byte)
    }

    /// The structure's bytes, as `TCGETS` writes them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = StructWriter::new(size_of::<termios>());
        out.put_u32(offset_of!(termios, c_iflag), self.iflag);
        out.put_u32(offset_of!(termios, c_oflag), self.oflag);
        out.put_u32(offset_of!(termios, c_cflag), self.cflag);
        out.put_u32(offset_of!(termios, c_lflag), self.lflag);
        out.put_u8(offset_of!(termios, c_line), self.line);
        out.put(offset_of!(termios, c_cc), &self.cc);
        out.bytes().to_vec()
    }

    /// The settings in a `struct termios` copied in.
    pub fn from_reader(reader: &StructReader) -> Termios {
        let mut cc = [0u8; NCCS];
        let start = offset_of!(termios, c_cc);
        if let Some(bytes) = reader.bytes().get(start..start + NCCS) {
            cc.copy_from_slice(bytes);
        }
        Termios {
            iflag: reader.u32(offset_of!(termios, c_iflag)),
            oflag: reader.u32(offset_of!(termios, c_oflag)),
            cflag: reader.u32(offset_of!(termios, c_cflag)),
            lflag: reader.u32(offset_of!(termios, c_lflag)),
            line: reader
                .bytes()
                .get(offset_of!(termios, c_line))
                .copied()
                .unwrap_or(0),
            cc,
        }
    }
}

/// The terminal's window size (`TIOCGWINSZ`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// Width in pixels (unused by most programs).
    pub xpixel: u16,
    /// Height in pixels.
    pub ypixel: u16,
}

impl Default for WindowSize {
    /// 80 columns by 24 rows, the serial console's classic size.
    fn default() -> WindowSize {
        WindowSize {
            rows: 24,
            cols: 80,
            xpixel: 0,
            ypixel: 0,
        }
    }
}

/// A console's line discipline. See the [module docs](self).
pub struct Terminal {
    state: Mutex<TerminalState>,
    output: Arc<dyn ConsoleOutput>,
}

struct TerminalState {
    termios: Termios,
    window: WindowSize,
    /// The foreground process group (0: none).
    foreground: u32,
    /// The session the terminal controls (0: none).
    session: u32,
    /// Canonical mode: the line being edited.
    line: Vec<u8>,
    /// Bytes a reader may take: whole lines in canonical mode, every byte in raw mode.
    ready: VecDeque<u8>,
    /// Canonical mode: the length of each line in `ready`, oldest first. A line handed over
    /// by `VEOF` has no newline; an empty one is end of file.
    line_lengths: VecDeque<usize>,
    /// Signals raised by typed keys, for the kernel: (process group, signal).
    signals: Vec<(u32, u32)>,
}

impl Terminal {
    /// A terminal with Linux's console settings ([`Termios::default`]), an 80x24 window and
    /// no foreground process group, writing to `output`.
    pub fn new(output: Arc<dyn ConsoleOutput>) -> Arc<Terminal> {
        Arc::new(Terminal {
            state: Mutex::new(TerminalState {
                termios: Termios::default(),
                window: WindowSize::default(),
                foreground: 0,
                session: 0,
                line: Vec::new(),
                ready: VecDeque::new(),
                line_lengths: VecDeque::new(),
                signals: Vec::new(),
            }),
            output,
        })
    }

    /// An open file description of the terminal (`/dev/console`), with `open`'s `flags`
    /// (access mode and `O_NONBLOCK`, in Linux's numbers).
    pub fn open(self: &Arc<Terminal>, flags: u32) -> Arc<dyn OpenFile> {
        Arc::new(TerminalFile::new(self.clone(), flags, None, "/dev/console"))
    }

    /// The current settings.
    pub fn termios(&self) -> Termios {
        self.state.lock().termios
    }

    /// Changes the settings (`TCSETS`). Leaving canonical mode hands the line being edited
    /// to the reader; entering it makes the bytes waiting a line of their own, as Linux does.
    pub fn set_termios(&self, termios: Termios) {
        let mut state = self.state.lock();
        let was_canonical = state.termios.has_l(ICANON);
        state.termios = termios;
        let canonical = termios.has_l(ICANON);
        if was_canonical && !canonical {
            let line = core::mem::take(&mut state.line);
            state.ready.extend(line);
        } else if !was_canonical && canonical {
            let in_lines: usize = state.line_lengths.iter().sum();
            let loose = state.ready.len() - in_lines;
            if loose > 0 {
                state.line_lengths.push_back(loose);
            }
        }
    }

    /// The foreground process group (0 if none was set).
    pub fn foreground(&self) -> u32 {
        self.state.lock().foreground
    }

    /// Sets the foreground process group (the kernel does, when it starts a container's
    /// program on the console; programs do with `TIOCSPGRP`).
    pub fn set_foreground(&self, pgid: u32) {
        self.state.lock().foreground = pgid;
    }

    /// Sets the session the terminal controls (what `TIOCGSID` answers).
    pub fn set_session(&self, sid: u32) {
        self.state.lock().session = sid;
    }

    /// The window size.
    pub fn window(&self) -> WindowSize {
        self.state.lock().window
    }

    /// Signals typed keys raised since the last call: (process group, signal number), in
    /// the order they were typed. The kernel sends each to every process of the group.
    pub fn take_signals(&self) -> Vec<(u32, u32)> {
        core::mem::take(&mut self.state.lock().signals)
    }

    /// Bytes a read could take now (`FIONREAD`): whole lines in canonical mode.
    pub fn available(&self) -> usize {
        self.state.lock().ready.len()
    }

    /// Whether a read would return now rather than block (data, or end of file).
    pub fn readable(&self) -> bool {
        let state = self.state.lock();
        if state.termios.has_l(ICANON) {
            !state.line_lengths.is_empty()
        } else {
            !state.ready.is_empty() || state.termios.cc[VMIN as usize] == 0
        }
    }

    /// Discards pending input: the line being edited and what waits to be read (`TCIFLUSH`).
    pub fn flush_input(&self) {
        self.state.lock().flush_input();
    }

    /// One byte the user typed. Echo is written to the console before this returns.
    pub fn input(&self, byte: u8) {
        let mut echo = Vec::new();
        self.state.lock().receive(byte, &mut echo);
        if !echo.is_empty() {
            self.output.write(&echo);
        }
    }

    /// Bytes a program writes: processed as `OPOST` says and written to the console.
    pub fn write_output(&self, bytes: &[u8]) {
        let termios = self.termios();
        let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
        for &byte in bytes {
            post_process(&termios, byte, &mut out);
        }
        self.output.write(&out);
    }

    /// Reads as the line discipline allows: one line at most in canonical mode (0 at end of
    /// file), `VMIN` bytes or what there is in raw mode.
    ///
    /// # Errors
    /// `EAGAIN` when there is nothing to read yet (the caller blocks).
    pub fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.state.lock();
        if state.termios.has_l(ICANON) {
            state.read_line(buf)
        } else {
            state.read_raw(buf)
        }
    }

    /// The terminal `ioctl`s; `ENOTTY` for others.
    fn ioctl(&self, request: u32, arg: u64, memory: &mut dyn UserMemory) -> SysResult<u64> {
        match request {
            TCGETS => {
                memory.write(arg, &self.termios().to_bytes())?;
            }
            TCSETS | TCSETSW | TCSETSF => {
                let reader = StructReader::read_from(memory, arg, size_of::<termios>())?;
                // TCSETSW waits for output to drain: output is written at once here.
                if request == TCSETSF {
                    self.flush_input();
                }
                self.set_termios(Termios::from_reader(&reader));
            }
            TIOCGWINSZ => {
                let window = self.window();
                let mut out = StructWriter::new(size_of::<winsize>());
                out.put_u16(offset_of!(winsize, ws_row), window.rows);
                out.put_u16(offset_of!(winsize, ws_col), window.cols);
                out.put_u16(offset_of!(winsize, ws_xpixel), window.xpixel);
                out.put_u16(offset_of!(winsize, ws_ypixel), window.ypixel);
                out.write_to(memory, arg)?;
            }
            TIOCSWINSZ => {
                let reader = StructReader::read_from(memory, arg, size_of::<winsize>())?;
                let half = |offset: usize| match reader.bytes().get(offset..offset + 2) {
                    Some(&[low, high]) => u16::from_le_bytes([low, high]),
                    _ => 0,
                };
                self.state.lock().window = WindowSize {
                    rows: half(offset_of!(winsize, ws_row)),
                    cols: half(offset_of!(winsize, ws_col)),
                    xpixel: half(offset_of!(winsize, ws_xpixel)),
                    ypixel: half(offset_of!(winsize, ws_ypixel)),
                };
            }
            TIOCGPGRP => user::write_u32(memory, arg, self.foreground())?,
            TIOCSPGRP => {
                // The group is not checked against the session's groups (Linux: EPERM).
                let pgid = user::read_u32(memory, arg)? as i32;
                if pgid < 0 {
                    return Err(Errno::EINVAL);
                }
                self.set_foreground(pgid as u32);
            }
            TIOCGSID => {
                let session = self.state.lock().session;
                if session == 0 {
                    return Err(Errno::ENOTTY);
                }
                user::write_u32(memory, arg, session)?;
            }
            // The console is every process's controlling terminal already.
            TIOCSCTTY | TIOCNOTTY => {}
            FIONREAD => {
                let available = u32::try_from(self.available()).unwrap_or(u32::MAX);
                user::write_u32(memory, arg, available)?;
            }
            TCFLSH => match arg as u32 {
                TCIFLUSH | TCIOFLUSH => self.flush_input(),
                TCOFLUSH => {}
                _ => return Err(Errno::EINVAL),
            },
            // tcdrain/tcsendbreak and tcflow: output is never held back here.
            TCSBRK | TCXONC => {}
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }
}

impl TerminalState {
    fn flush_input(&mut self) {
        self.line.clear();
        self.ready.clear();
        self.line_lengths.clear();
    }

    fn read_line(&mut self, buf: &mut [u8]) -> SysResult<usize> {
        let Some(&length) = self.line_lengths.front() else {
            return Err(Errno::EAGAIN);
        };
        let count = length.min(buf.len());
        for (slot, byte) in buf.iter_mut().zip(self.ready.drain(..count)) {
            *slot = byte;
        }
        if count == length {
            self.line_lengths.pop_front();
        } else if let Some(rest) = self.line_lengths.front_mut() {
            *rest -= count;
        }
        Ok(count)
    }

    fn read_raw(&mut self, buf: &mut [u8]) -> SysResult<usize> {
        let min = usize::from(self.termios.cc[VMIN as usize]).min(buf.len());
        if self.ready.len() < min {
            return Err(Errno::EAGAIN);
        }
        let count = self.ready.len().min(buf.len());
        for (slot, byte) in buf.iter_mut().zip(self.ready.drain(..count)) {
            *slot = byte;
        }
        // Lines handed over before canonical mode was left are raw bytes now.
        let mut taken = count;
        while let Some(length) = self.line_lengths.front_mut() {
            if *length > taken {
                *length -= taken;
                break;
            }
            taken -= *length;
            self.line_lengths.pop_front();
        }
        Ok(count)
    }

    /// Processes one typed byte; what is to be echoed goes to `echo`.
    fn receive(&mut self, byte: u8, echo: &mut Vec<u8>) {
        let termios = self.termios;
        let byte = match byte {
            b'\r' if termios.iflag & IGNCR != 0 => return,
            b'\r' if termios.iflag & ICRNL != 0 => b'\n',
            b'\n' if termios.iflag & INLCR != 0 => b'\r',
            other => other,
        };
        if termios.has_l(ISIG) {
            let signal = [(VINTR, SIGINT), (VQUIT, SIGQUIT), (VSUSP, SIGTSTP)]
                .into_iter()
                .find(|&(index, _)| termios.is_control(index, byte));
            if let Some((_, signo)) = signal {
                if !termios.has_l(NOFLSH) {
                    self.flush_input();
                }
                if termios.has_l(ECHO) {
                    echo_byte(&termios, byte, echo);
                }
                if self.foreground != 0 {
                    self.signals.push((self.foreground, signo));
                }
                return;
            }
        }
        if !termios.has_l(ICANON) {
            self.ready.push_back(byte);
            if termios.has_l(ECHO) || (byte == b'\n' && termios.has_l(ECHONL)) {
                echo_byte(&termios, byte, echo);
            }
            return;
        }
        self.receive_canonical(&termios, byte, echo);
    }

    fn receive_canonical(&mut self, termios: &Termios, byte: u8, echo: &mut Vec<u8>) {
        let echoes = termios.has_l(ECHO);
        if termios.is_control(VERASE, byte) {
            if let Some(erased) = pop_char(&mut self.line) {
                if echoes && termios.has_l(ECHOE) {
                    erase_echo(termios, &erased, echo);
                } else if echoes {
                    echo_byte(termios, byte, echo);
                }
            }
            return;
        }
        if termios.has_l(IEXTEN) && termios.is_control(VWERASE, byte) {
            // Blanks after the word, then the word.
            while self.line.last().is_some_and(|b| b.is_ascii_whitespace()) {
                let erased = pop_char(&mut self.line).unwrap_or_default();
                if echoes && termios.has_l(ECHOE) {
                    erase_echo(termios, &erased, echo);
                }
            }
            while self.line.last().is_some_and(|b| !b.is_ascii_whitespace()) {
                let erased = pop_char(&mut self.line).unwrap_or_default();
                if echoes && termios.has_l(ECHOE) {
                    erase_echo(termios, &erased, echo);
                }
            }
            return;
        }
        if termios.is_control(VKILL, byte) {
            if echoes && termios.has_l(ECHOK) && termios.has_l(ECHOKE) && termios.has_l(ECHOE) {
                while let Some(erased) = pop_char(&mut self.line) {
                    erase_echo(termios, &erased, echo);
                }
            } else {
                self.line.clear();
                if echoes {
                    echo_byte(termios, byte, echo);
                    if termios.has_l(ECHOK) {
                        echo_byte(termios, b'\n', echo);
                    }
                }
            }
            return;
        }
        if termios.is_control(VEOF, byte) {
            self.commit_line();
            return;
        }
        let ends_line =
            byte == b'\n' || termios.is_control(VEOL, byte) || termios.is_control(VEOL2, byte);
        if self.line.len() >= MAX_LINE - 1 && !ends_line {
            // The line is full: only a line end goes in (Linux keeps room for it).
            return;
        }
        self.line.push(byte);
        if echoes || (byte == b'\n' && termios.has_l(ECHONL)) {
            echo_byte(termios, byte, echo);
        }
        if ends_line {
            self.commit_line();
        }
    }

    /// Hands the line being edited to the reader (an empty one is end of file).
    fn commit_line(&mut self) {
        let line = core::mem::take(&mut self.line);
        self.line_lengths.push_back(line.len());
        self.ready.extend(line);
    }
}

/// Removes the last character of `line` (all its UTF-8 bytes); returns its bytes.
fn pop_char(line: &mut Vec<u8>) -> Option<Vec<u8>> {
    let last = line.len().checked_sub(1)?;
    let mut start = last;
    // Continuation bytes (10xxxxxx) belong to the character before them.
    while start > 0 && line[start] & 0xc0 == 0x80 {
        start -= 1;
    }
    Some(line.split_off(start))
}

/// What erasing `erased` shows: `"\b \b"` for each column it took.
fn erase_echo(termios: &Termios, erased: &[u8], echo: &mut Vec<u8>) {
    let columns = match erased {
        [byte] if shown_as_caret(termios, *byte) => 2,
        _ => 1,
    };
    for _ in 0..columns {
        echo.extend_from_slice(b"\x08 \x08");
    }
}

/// Whether `byte` echoes as `^X` (with `ECHOCTL`: control characters but tab and newline).
fn shown_as_caret(termios: &Termios, byte: u8) -> bool {
    termios.has_l(ECHOCTL) && (byte < 0x20 || byte == 0x7f) && byte != b'\t' && byte != b'\n'
}

/// Echoes one byte, as `^X` if it is a control character shown that way.
fn echo_byte(termios: &Termios, byte: u8, echo: &mut Vec<u8>) {
    if shown_as_caret(termios, byte) {
        echo.push(b'^');
        echo.push(byte ^ 0x40);
    } else {
        post_process(termios, byte, echo);
    }
}

/// One output byte as `OPOST` and `ONLCR` make it.
fn post_process(termios: &Termios, byte: u8, out: &mut Vec<u8>) {
    if byte == b'\n' && termios.oflag & OPOST != 0 && termios.oflag & ONLCR != 0 {
        out.extend_from_slice(b"\r\n");
    } else {
        out.push(byte);
    }
}

/// An open file description of a terminal: what `/dev/console` and `/dev/tty` open.
pub struct TerminalFile {
    terminal: Arc<Terminal>,
    /// Access mode, `O_NONBLOCK` and `O_APPEND`.
    flags: AtomicU32,
    /// The device node it was opened through, if any.
    node: Option<Arc<dyn Inode>>,
    name: &'static str,
}

impl TerminalFile {
    /// A description of `terminal` opened with `flags` through `node` (if any), shown as
    /// `name` in `/proc/PID/fd`.
    pub fn new(
        terminal: Arc<Terminal>,
        flags: u32,
        node: Option<Arc<dyn Inode>>,
        name: &'static str,
    ) -> TerminalFile {
        TerminalFile {
            terminal,
            flags: AtomicU32::new(flags & (O_ACCMODE | O_NONBLOCK | O_APPEND)),
            node,
            name,
        }
    }

    /// The terminal.
    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.terminal
    }

    fn access(&self) -> u32 {
        self.flags.load(Ordering::Relaxed) & O_ACCMODE
    }

    /// What `poll` reports, in Linux's bits: `POLLIN | POLLRDNORM` when a read would return
    /// now ([`Terminal::readable`]), and always `POLLOUT | POLLWRNORM` (output never waits).
    pub fn poll_events(&self) -> u32 {
        let mut events = POLLOUT | POLLWRNORM;
        if self.terminal.readable() {
            events |= POLLIN | POLLRDNORM;
        }
        events
    }
}

impl OpenFile for TerminalFile {
    fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        if self.access() == linux_raw_sys::general::O_WRONLY {
            return Err(Errno::EBADF);
        }
        self.terminal.read(buf)
    }

    fn write(&self, buf: &[u8]) -> SysResult<usize> {
        if self.access() == linux_raw_sys::general::O_RDONLY {
            return Err(Errno::EBADF);
        }
        self.terminal.write_output(buf);
        Ok(buf.len())
    }

    fn metadata(&self) -> SysResult<Metadata> {
        if let Some(node) = &self.node {
            return Ok(node.metadata()?);
        }
        Ok(Metadata {
            ino: 1,
            dev: 0,
            kind: FileType::CharDevice,
            mode: 0o600,
            nlink: 1,
            uid: 0,
            gid: 0,
            size: 0,
            rdev: CONSOLE_RDEV,
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        })
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        self.node.clone()
    }

    fn ioctl(&self, request: u32, arg: u64, memory: &mut dyn UserMemory) -> SysResult<u64> {
        self.terminal.ioctl(request, arg, memory)
    }

    fn poll_events(&self) -> u32 {
        TerminalFile::poll_events(self)
    }

    fn status_flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    fn set_status_flags(&self, flags: u32) {
        let kept = self.access();
        self.flags
            .store(kept | (flags & (O_NONBLOCK | O_APPEND)), Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        String::from(self.name)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
