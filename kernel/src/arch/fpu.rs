//! A user thread's x87/SSE registers, saved and restored with `FXSAVE`/`FXRSTOR`.
//!
//! The kernel is built soft-float and never touches these registers, so a program's values
//! stay in the CPU across its traps; the scheduler saves them only when another program is
//! about to run (`save` the old, `restore` the new).

use core::sync::atomic::{AtomicU32, Ordering};

/// Offset of the x87 control word in the FXSAVE area.
const FCW_OFFSET: usize = 0;
/// Offset of MXCSR in the FXSAVE area.
const MXCSR_OFFSET: usize = 24;
/// The x87 control word a new program gets (Linux's: all exceptions masked, 64-bit precision).
const INITIAL_FCW: u16 = 0x037f;
/// Offset of MXCSR_MASK (the MXCSR bits this CPU supports) in the FXSAVE area.
const MXCSR_MASK_OFFSET: usize = 28;
/// The MXCSR bits every SSE CPU supports (the architectural default of MXCSR_MASK: all of
/// the low 16 bits but DAZ).
const MXCSR_MASK_DEFAULT: u32 = 0xffbf;
/// The MXCSR a new program gets (all SSE exceptions masked, round to nearest).
const INITIAL_MXCSR: u32 = 0x1f80;

/// The MXCSR bits a program may set on this CPU (the others are reserved: `FXRSTOR` faults
/// on them), measured by [`init`].
static MXCSR_WRITABLE: AtomicU32 = AtomicU32::new(MXCSR_MASK_DEFAULT);

/// Measures which MXCSR bits this CPU supports. Call once SSE is enabled.
pub fn init() {
    let mut probe = FpuState::new();
    probe.save();
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&probe.area[MXCSR_MASK_OFFSET..MXCSR_MASK_OFFSET + 4]);
    // A CPU that stores 0 there supports the default set (Intel SDM, "MXCSR_MASK").
    let mask = match u32::from_le_bytes(bytes) {
        0 => MXCSR_MASK_DEFAULT,
        mask => mask,
    };
    MXCSR_WRITABLE.store(mask, Ordering::Relaxed);
}

/// The 512-byte FXSAVE area (16-byte aligned, as `FXSAVE` requires).
#[repr(C, align(16))]
#[derive(Clone, PartialEq, Eq)]
pub struct FpuState {
    area: [u8; 512],
}

impl FpuState {
    /// The state a new program starts with: registers zero, the control words Linux uses.
    pub fn new() -> FpuState {
        let mut area = [0u8; 512];
        area[FCW_OFFSET..FCW_OFFSET + 2].copy_from_slice(&INITIAL_FCW.to_le_bytes());
        area[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&INITIAL_MXCSR.to_le_bytes());
        FpuState { area }
    }

    /// Stores the CPU's x87/SSE registers here.
    pub fn save(&mut self) {
        // SAFETY: the area is 512 bytes, 16-byte aligned (the type's alignment) and
        // exclusively borrowed; CR4.OSFXSR is set by `arch::init`.
        unsafe {
            core::arch::asm!(
                "fxsave64 [{}]",
                in(reg) self.area.as_mut_ptr(),
                options(nostack, preserves_flags),
            );
        }
    }

    /// Loads the CPU's x87/SSE registers from here.
    pub fn restore(&self) {
        // SAFETY: as `save`; the area holds either `new`'s state or one `FXSAVE` wrote, so
        // MXCSR has no reserved bit set and `FXRSTOR` does not fault.
        unsafe {
            core::arch::asm!(
                "fxrstor64 [{}]",
                in(reg) self.area.as_ptr(),
                options(nostack, preserves_flags, readonly),
            );
        }
    }

    /// The saved FXSAVE image (what a signal frame stores).
    pub fn as_bytes(&self) -> &[u8] {
        &self.area
    }

    /// Replaces the saved image with `bytes` (from a signal frame), keeping what `FXRSTOR`
    /// requires: MXCSR's reserved bits cleared. A short image leaves the rest as it was.
    pub fn set_bytes(&mut self, bytes: &[u8]) {
        let len = bytes.len().min(self.area.len());
        self.area[..len].copy_from_slice(&bytes[..len]);
        let mxcsr = self.mxcsr() & MXCSR_WRITABLE.load(Ordering::Relaxed);
        self.area[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&mxcsr.to_le_bytes());
    }

    /// The saved MXCSR (SSE control and status).
    pub fn mxcsr(&self) -> u32 {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&self.area[MXCSR_OFFSET..MXCSR_OFFSET + 4]);
        u32::from_le_bytes(bytes)
    }

    /// The saved XMM register `index` (0..16), little-endian bytes.
    pub fn xmm(&self, index: usize) -> Option<[u8; 16]> {
        let start = 160 + 16 * index;
        let bytes = self.area.get(start..start + 16).filter(|_| index < 16)?;
        let mut xmm = [0u8; 16];
        xmm.copy_from_slice(bytes);
        Some(xmm)
    }
}

impl Default for FpuState {
    fn default() -> FpuState {
        FpuState::new()
    }
}

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FpuState")
            .field("mxcsr", &format_args!("{:#x}", self.mxcsr()))
            .finish_non_exhaustive()
    }
}
