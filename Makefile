# Build, boot and test the overlay kernel. Every target that needs tools installs them first
# (`deps`), so a fresh Debian machine with rustup needs nothing else.
#
#   make qemu        boot the kernel under QEMU (BIOS) and run its test suite; status = verdict
#   make qemu-uefi   the same through UEFI (OVMF)
#   make run IMAGE=busybox CMD="sh -c 'echo hi'"
#                    boot, run a container of IMAGE with its command (CMD, split as the shell
#                    splits it, replaces the image's Cmd) and exit with the program's status
#   make shell       BusyBox's sh in a container of the busybox image, on this terminal
#   make overlay-shell  the kernel's own overlay shell (image commands: images, run, diff,
#                    commit, ...) on the serial console, on the real root (`exit` leaves)
#   make test        formatting, lints, host tests and the QEMU tests
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

.PHONY: deps qemu qemu-uefi run shell overlay-shell test lint clean

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

test: lint
	DIFFTEST_REQUIRED=1 $(CARGO) test --workspace --features overlay-core/arceos

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

# Benchmarks of issue 6 (never part of `make test`: figures are not tests, and only their ratios
# within one run mean much on a shared machine). `make bench` prints one table: this engine, the
# vfs crate, Linux overlayfs and tmpfs (when it may mount), memcpy; BENCH_ARGS e.g.
# "--repeats 9 --only W1,W3". `make qemu-bench` boots the kernel in its bench mode: the boot by
# stage and W1/W3 in TSC cycles (1 GiB of guest memory for W3's 64 MiB file and its copies).
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
