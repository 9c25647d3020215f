# Build, boot and test the overlay kernel. Every target that needs tools installs them first
# (`deps`), so a fresh Debian machine with rustup needs nothing else. `make` alone lists the
# targets (`make help`).
#
#   make qemu        boot the kernel under QEMU (BIOS) and run its test suite; status = verdict
#   make qemu-uefi   the same through UEFI (OVMF)
#   make run IMAGE=busybox CMD="sh -c 'echo hi'"
#                    boot, run a container of IMAGE with its command (CMD, split as the shell
#                    splits it, replaces the image's Cmd) and exit with the program's status
#   make shell       BusyBox's sh in a container of the busybox image, on this terminal
#   make overlay-shell  the kernel's own overlay shell (image commands: images, run, diff,
#                    commit, ...) on the serial console, on the real root (`exit` leaves)
#   make test        formatting, lints, host tests and the QEMU tests (the kernel's own
#                    `N passed, M failed` lines last); built as `make qemu` builds, so a
#                    `make qemu` after it reuses the build
#   make difftest-busybox  BusyBox scripts on Linux overlayfs and in the kernel, compared
#   make clean       remove build output
#
# In the interactive targets Ctrl-C goes to the guest; Ctrl-A X leaves QEMU (Ctrl-A C switches
# to QEMU's monitor and back).
#
# BusyBox (Debian's busybox-static) is fetched by `make deps` into target/busybox with apt-get
# and dpkg-deb (rootfs/fetch-busybox); its image goes to the kernel through fw_cfg, not the
# BIOS RAM disk (rootfs/fw-cfg-images).
#
# Extra `boot qemu` arguments go in BOOT_ARGS, e.g. `make qemu BOOT_ARGS="--ramdisk FILE"`.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
TOOLCHAIN := nightly
KERNEL_TARGET := x86_64-unknown-none
# overlay-core must build bare-metal on the architectures hobby kernels target.
CORE_TARGETS := x86_64-unknown-none aarch64-unknown-none riscv64gc-unknown-none-elf
QEMU := qemu-system-x86_64
BOOT_ARGS ?=
# apt-get needs root; use sudo when not already root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Where `make deps` unpacks busybox-static (the build context `busybox` of boot::build).
BUSYBOX_DIR ?= $(CURDIR)/target/busybox
export BUSYBOX_DIR

# Cargo's target directory, where the first build's bootloader stages end up.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
BOOTLOADER_STAGES := $(TARGET_DIR)/debug/build/bootloader-*/out/bin/bootloader-x86_64-uefi.efi

.PHONY: help deps qemu qemu-uefi run shell overlay-shell test lint clean

help:
	@echo "make targets (extra \`boot\` arguments in BOOT_ARGS=\"...\"):"
	@echo "  help              this list (what \`make\` alone does)"
	@echo "  deps              install QEMU, OVMF, the Rust components and BusyBox (others run it)"
	@echo "  qemu              boot the kernel (BIOS) and run its test suite; status = verdict"
	@echo "  qemu-uefi         the same through UEFI (OVMF)"
	@echo "  run               run a container: IMAGE=busybox CMD=\"sh -c 'echo hi'\", its status"
	@echo "  shell             BusyBox's sh in a container of the busybox image, on this terminal"
	@echo "  overlay-shell     the kernel's overlay shell on the serial console (\`exit\` leaves)"
	@echo "  test              formatting, lints, every host and QEMU test (~7 min once built)"
	@echo "  lint              formatting, clippy, bare-metal builds, rustdoc"
	@echo "  difftest          N random cases on Linux overlayfs and the engine, compared (root)"
	@echo "  difftest-busybox  BusyBox scripts on Linux overlayfs and in the kernel, compared"
	@echo "  fuzz              each cargo-fuzz target for SECS s"
	@echo "  bench             the engine's benchmarks against its peers (a table)"
	@echo "  qemu-bench        the kernel's boot by stage and its benchmarks, in TSC cycles"
	@echo "  diagram           boot the kernel and draw its boot report as docs/boot.svg"
	@echo "  clean             remove build output"

deps:
	rustup component add rust-src llvm-tools-preview rustfmt clippy --toolchain $(TOOLCHAIN)
	rustup target add $(CORE_TARGETS) --toolchain $(TOOLCHAIN)
	@if command -v $(QEMU) >/dev/null && \
	    { [ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -f /usr/share/OVMF/OVMF_CODE.fd ]; }; then \
	    echo "deps: $(QEMU) and OVMF are installed"; \
	else \
	    echo "deps: installing qemu-system-x86 and ovmf"; \
	    $(SUDO) apt-get update && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y qemu-system-x86 ovmf; \
	fi
	rootfs/fetch-busybox $(BUSYBOX_DIR)
	@ls $(BOOTLOADER_STAGES) >/dev/null 2>&1 || echo "deps: first build in $(TARGET_DIR):" \
	    "cargo builds the bootloader's BIOS and UEFI stages, first time only, ~3-5 min" \
	    "without output (\`cargo install\` inside the bootloader's build script)"

qemu: deps
	$(CARGO) run -p boot -- qemu $(BOOT_ARGS)

qemu-uefi: deps
	$(CARGO) run -p boot -- qemu --uefi $(BOOT_ARGS)

# `make run`: IMAGE's program in a container, its exit status make's. CMD is split into words
# by the shell, so quotes in it group words; a `$` meant for the container is written `$$`.
# Without CMD, the image's own command (busybox: an interactive sh). An interactive session
# has no deadline worth enforcing: a day.
IMAGE ?= busybox
CMD ?=
run: deps
	$(CARGO) run -q -p boot -- run --timeout 86400 $(BOOT_ARGS) $(IMAGE) -- $(CMD)

shell: deps
	$(CARGO) run -q -p boot -- run --timeout 86400 $(BOOT_ARGS) busybox

overlay-shell: deps
	$(CARGO) run -q -p boot -- qemu --mode shell --timeout 86400 $(BOOT_ARGS)

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p overlay-core --features arceos --all-targets -- -D warnings
	$(CARGO) clippy -p overlay-core --no-default-features -- -D warnings
	$(CARGO) clippy -p kernel --target $(KERNEL_TARGET) -- -D warnings
	for target in $(CORE_TARGETS); do \
	    $(CARGO) build -p overlay-core --target $$target && \
	    $(CARGO) build -p overlay-core --no-default-features --target $$target && \
	    $(CARGO) build -p overlay-core --features arceos --target $$target || exit 1; \
	done
	$(CARGO) build -p overlay-syscalls --target $(KERNEL_TARGET)
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p overlay-core -p overlay-syscalls --no-deps
	$(CARGO) package -p overlay-core --allow-dirty

# The engine and the system-call layer with every feature; then the boot tool and the QEMU
# tests in a cargo run of their own, whose build is `make qemu`'s (the same packages and
# features: a workspace-wide run would unify overlay-core's dev-dependencies into the kernel's
# `spin`, a second kernel build); then the suite boots, their output shown: the kernel's own
# `N passed, M failed` line for each firmware.
SUITE_TESTS := runs_the_suite_to_zero_failures
test: lint
	$(CARGO) test --workspace --exclude boot --exclude qemu-tests --features overlay-core/arceos
	DIFFTEST_REQUIRED=1 $(CARGO) test -p boot -p qemu-tests -- --skip $(SUITE_TESTS)
	$(CARGO) test -p boot -p qemu-tests --test qemu -- $(SUITE_TESTS) --nocapture

clean:
	$(CARGO) clean

# Fuzzing with cargo-fuzz (installed on first use): each overlay-core/fuzz target (or those of
# FUZZ_TARGETS) for SECS s, from its corpus, seeds and regression inputs, with its dictionary
# of tokens (overlay-core/fuzz/dicts/). Every input runs on a thread of the kernel's 512 KiB
# stack with a heap of 512 KiB + 32 bytes per input byte, 128 for the shell
# (overlay-core/fuzz/src/budget.rs): recursion as deep as the input, memory far beyond it or
# an input taking over 60 s is a crash, saved in overlay-core/fuzz/artifacts/TARGET/ (a target
# stops at its first; the others still run, and the status says whether any crashed). Inputs
# go up to FUZZ_MAX_LEN bytes, long enough for a tar that amplifies memory to show it.
# `make test` runs the seeds and regression inputs under the same budgets
# (overlay-core/tests/fuzz_budgets.rs).
SECS ?= 60
FUZZ_MAX_LEN ?= 1048576
FUZZ_TARGETS ?= shell union_ops image_tar image_oci
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd overlay-core/fuzz && status=0; for target in $(FUZZ_TARGETS); do \
	    mkdir -p corpus/$$target; inputs=; \
	    for dir in seeds regressions; do \
	        [ -d $$dir/$$target ] && inputs="$$inputs $$dir/$$target"; done; \
	    dict=; [ -f dicts/$$target.dict ] && dict=-dict=dicts/$$target.dict; \
	    $(CARGO) fuzz run $$target corpus/$$target $$inputs -- -max_total_time=$(SECS) $$dict \
	        -max_len=$(FUZZ_MAX_LEN) -timeout=60 -rss_limit_mb=4096 || status=1; done; \
	exit $$status

# Differential tests against Linux overlayfs (needs root): N random cases from seed SEED.
N ?= 1000
SEED ?= 1
difftest:
	$(CARGO) run -q -p boot -- difftest --seed $(SEED) -n $(N)

# The BusyBox differential test (root, `make deps`): the scripts of boot/tests/busybox (or
# SCRIPTS=DIR) run by BusyBox on Linux overlayfs and in the kernel under QEMU, compared script
# by script; BUSYBOX_DIFF_ARGS e.g. "--uefi". `make test` runs it on the corpus.
SCRIPTS ?= boot/tests/busybox
BUSYBOX_DIFF_ARGS ?=
difftest-busybox: deps
	$(CARGO) run -q -p boot -- difftest --busybox --scripts $(SCRIPTS) --kernel $(BUSYBOX_DIFF_ARGS)

.PHONY: fuzz difftest difftest-busybox

# Benchmarks of issues 6 and 21 (never part of `make test`: figures are not tests, and only their
# ratios within one run mean much on a shared machine). `make bench` prints a table of this
# engine, the vfs crate, Linux overlayfs and tmpfs (when it may mount), memcpy; then W6's, image
# to mounted root against `tar -x` + overlayfs and `umoci unpack` (when installed); BENCH_ARGS
# e.g. "--repeats 9 --only W1,W6". `make qemu-bench` boots the kernel in its bench mode: the boot
# by stage with the digest check's cycles per MiB, and W1/W3 in TSC cycles (1 GiB of guest
# memory for W3's 64 MiB file and its copies).
BENCH_ARGS ?=
bench:
	rustup component add rust-src --toolchain $(TOOLCHAIN)
	$(CARGO) bench -p overlay-core --bench overlay -- $(BENCH_ARGS)

qemu-bench: deps
	$(CARGO) run -p boot -- qemu --mode bench --memory 1024 --timeout 900 $(BOOT_ARGS)

.PHONY: bench qemu-bench

# The boot as a picture, docs/boot.svg (shown in the README): `boot diagram` boots the kernel
# (BIOS, the default RAM disk, BusyBox through fw_cfg) to its boot report and draws it;
# DIAGRAM_ARGS="--report FILE" draws a saved serial log instead. The QEMU test
# qemu-tests/tests/diagram.rs fails when the committed drawing no longer has a boot's shape.
DIAGRAM_ARGS ?=
diagram: deps
	$(CARGO) run -q -p boot -- diagram --out docs/boot.svg $(DIAGRAM_ARGS)

.PHONY: diagram
