#!/usr/bin/env bash
# run the whole `bun test` suite on an emulated arm64 Linux kernel.
#
#   test/arch/aarch64.sh            the suite, as root inside the VM; prints "N passed, N failed"
#   test/arch/aarch64.sh --bench    the sanity ratio: Bun cycle vs the C floor, both inside the VM
#   test/arch/aarch64.sh -- ARGS    bun test ARGS inside the VM (e.g. a single file)
#
# Everything comes from Debian's archive and the npm registry and is cached
# under .cache/aarch64/ (gitignored): qemu-system-aarch64 (qemu-system-arm),
# the arm64 kernel linux-image-arm64 points to (its vmlinuz is an
# uncompressed Image with virtio, devtmpfs and user namespaces built in),
# busybox-static, glibc, util-linux's unshare, setpriv, nsenter and lsns
# (with their libraries), uidmap's newuidmap and newgidmap, bash, and Bun's
# arm64 build of exactly node_modules/bun's version. The
# initramfs holds the repository's src/, native/, test/ and the pure-JS test
# dependencies; /init runs the suite and writes markers on the serial
# console, which this script reads back.
#
# qemu-user cannot run this (ptrace and CLONE_NEWUSER fail there): a real
# arm64 kernel under qemu-system's TCG can. Exit status: 0 only if the VM
# reported and nothing failed. AARCH64_TIMEOUT (seconds, default 1200) bounds
# qemu; AARCH64_WATCHDOG=S dumps every process's state, wait channel and
# kernel stack after S seconds (a hang's diagnosis). AARCH64_CPU overrides
# "-cpu neoverse-n1" (Armv8.2 with LSE atomics: Graviton2, Ampere Altra).
# Not "max": with "max,pauth-impdef=on" Bun 1.4.5 itself crashed or
# misevaluated a regex in about half of the runs of test/unshare.test.ts
# (segfaults at sign-extended 32-bit addresses), while cortex-a72 and
# neoverse-n1 passed 8 runs of 8; plain "max" is ~4x slower (QARMA).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${AARCH64_CACHE:-$ROOT/.cache/aarch64}
TIMEOUT=${AARCH64_TIMEOUT:-1200} # a quiet run takes under half of it; CI with a hung VM still ends under 30 min
CPU=${AARCH64_CPU:-neoverse-n1}
WATCHDOG=${AARCH64_WATCHDOG:-0} # seconds: then dump every process's state (debugging a hang)
MODE=test
TEST_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
  --bench) MODE=bench ;;
  --) shift; TEST_ARGS=("$@"); break ;;
  *) echo "usage: $0 [--bench] [-- bun test args]" >&2; exit 2 ;;
  esac
  shift
done

# Test files the VM leaves out: they run no architecture-specific code of their own (the native paths they reach
# are other files' on arm64 too), or have their own arm64 runner. Everything else runs.
VM_SKIP=(
  test/bench.test.ts     # the bench's quick pass: arm64's bench is --bench here; its rows' calls are the suite's own
  test/bwrap-cli.test.ts # bwrap's option language, parsed in TS into sandbox(): sandbox*.test.ts run that here
  test/install.test.ts   # npm installs of the packed package (no npm in the image): packaging, no native code
)

say() { echo "aarch64: $*" >&2; }
die() { say "$*"; echo "0 passed, 1 failed"; exit 1; }
t_start=$(date +%s)

# --- 1. host tools ------------------------------------------------------------
missing=()
command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm)
command -v cpio >/dev/null || missing+=(cpio)
command -v npm >/dev/null || die "npm is needed to fetch Bun's arm64 binary"
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "needs ${missing[*]} (apt-get install as root)"
  say "apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
fi

# --- 2. arm64 packages from Debian ---------------------------------------------
mkdir -p "$CACHE/debs" "$CACHE/x" "$CACHE/npm"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  [ "$(id -u)" = 0 ] || die "needs dpkg --add-architecture arm64 (as root)"
  dpkg --add-architecture arm64
fi
# The kernel version the linux-image-arm64 metapackage points to today.
kernel_pkg() { apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=$(kernel_pkg || true)
if [ -z "$KPKG" ]; then
  say "apt-get update (arm64 package lists)"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  KPKG=$(kernel_pkg || true)
  [ -n "$KPKG" ] || die "apt-cache depends linux-image-arm64:arm64 names no kernel"
fi
KVER=${KPKG#linux-image-}
KVER=${KVER%:arm64}
# Package → what is taken from it. Only these files go into the image.
PKGS=("$KPKG" busybox-static:arm64 libc6:arm64 util-linux:arm64 libcap-ng0:arm64 libselinux1:arm64 libpcre2-8-0:arm64
  bash:arm64 libtinfo6:arm64 uidmap:arm64 libaudit1:arm64
  libsmartcols1:arm64 libmount1:arm64 libblkid1:arm64)
fetch_deb() { # NAME:arm64 → extracted under $CACHE/x/NAME (once per version)
  local pkg=$1 name=${1%:arm64} ver dir
  ver=$(apt-cache policy "$pkg" | awk '/Candidate:/{print $2}')
  [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate for $pkg"
  dir="$CACHE/x/$name"
  if [ "$(cat "$dir/.version" 2>/dev/null)" != "$ver" ]; then
    say "apt-get download $pkg=$ver"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$CACHE/debs" && rm -f "${name}"_*_arm64.deb && apt-get download -qq "$pkg=$ver" 2>/dev/null) ||
      die "apt-get download $pkg=$ver failed"
    dpkg-deb -x "$CACHE/debs/${name}"_*_arm64.deb "$dir"
    echo "$ver" >"$dir/.version"
  fi
}
for p in "${PKGS[@]}"; do fetch_deb "$p"; done
KERNEL="$CACHE/x/${KPKG%:arm64}/boot/vmlinuz-$KVER"
[ -f "$KERNEL" ] || die "no kernel image in $KPKG"

# --- 3. Bun's arm64 build, the exact version of node_modules/bun ---------------
BUNVER=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$ROOT/node_modules/bun/package.json" | head -1)
[ -n "$BUNVER" ] || die "cannot read node_modules/bun's version (run npm ci first)"
BUNBIN="$CACHE/x/bun-$BUNVER/package/bin/bun"
if [ ! -x "$BUNBIN" ]; then
  say "npm pack @oven/bun-linux-aarch64@$BUNVER"
  tgz=$(cd "$CACHE/npm" && npm pack --silent "@oven/bun-linux-aarch64@$BUNVER" | tail -1) ||
    die "npm pack @oven/bun-linux-aarch64@$BUNVER failed"
  mkdir -p "$CACHE/x/bun-$BUNVER"
  tar xzf "$CACHE/npm/$tgz" -C "$CACHE/x/bun-$BUNVER"
  [ -x "$BUNBIN" ] || die "no bin/bun in $tgz"
fi

# --- 4. the C floor for --bench (optional) -------------------------------------
FLOOR=
if [ "$MODE" = bench ]; then
  if command -v aarch64-linux-gnu-gcc >/dev/null; then
    FLOOR="$CACHE/floor"
    aarch64-linux-gnu-gcc -O2 -static -o "$FLOOR" "$ROOT/test/bench/floor.c" || die "floor build failed"
  else
    say "no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu): the bench runs without its C floor"
  fi
fi

# --- 5. the initramfs ----------------------------------------------------------
R="$CACHE/rootfs"
rm -rf "$R"
mkdir -p "$R"/{usr/bin,usr/sbin,usr/lib,proc,sys,dev,tmp,var/tmp,root,etc,mnt,run,repo/node_modules}
chmod 1777 "$R/tmp" "$R/var/tmp"
# Debian's merged /usr: /bin, /sbin, /lib are links into /usr.
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
X="$CACHE/x"
for p in libc6 libcap-ng0 libselinux1 libpcre2-8-0 libtinfo6 libaudit1 libsmartcols1 libmount1 libblkid1; do # shared libraries, wherever the package puts them
  for d in lib usr/lib; do [ -d "$X/$p/$d" ] && cp -a "$X/$p/$d/." "$R/usr/lib/"; done
done
cp "$X/busybox-static/bin/busybox" "$R/usr/bin/busybox"
for f in unshare setpriv nsenter lsns; do # util-linux's: the peers, the other-uid and foreign-client roles, NS_GET_PARENT
  cp "$X/util-linux/usr/bin/$f" "$R/usr/bin/$f" || die "util-linux:arm64 has no usr/bin/$f"
done
for f in newuidmap newgidmap; do # uidmap's: util-linux unshare's --map-users/--map-groups/--map-auto run them
  cp "$X/uidmap/usr/bin/$f" "$R/usr/bin/$f" || die "uidmap:arm64 has no usr/bin/$f"
done
cp "$(find "$X/bash" -type f -path '*bin/bash' | head -1)" "$R/usr/bin/bash"
cp "$BUNBIN" "$R/usr/bin/bun"
[ -n "$FLOOR" ] && cp "$FLOOR" "$R/usr/bin/bun-userns-floor"
cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
# Empty, as a fresh Debian has them: the tests bind their own ranges over them.
: >"$R/etc/subuid"
: >"$R/etc/subgid"
# The repository: what the suite reads, nothing else.
for f in src native test docs package.json bunfig.toml tsconfig.json README.md; do cp -a "$ROOT/$f" "$R/repo/"; done
for m in fast-check pure-rand; do cp -aL "$ROOT/node_modules/$m" "$R/repo/node_modules/"; done
rm -rf "$R/repo/test/bench/go" # Go is not in the image
if [ "$MODE" = bench ]; then
  RUN="bun test/bench/aarch64.ts${FLOOR:+ /usr/bin/bun-userns-floor}"
else
  # Emulation is ~10x slower: per-test timeouts scale with it.
  # Quoted for the VM's sh: a -t pattern may hold spaces or "|".
  # The suite: every file but those VM_SKIP names, removed from the image so that bun test finds the rest in
  # its own order, the x86_64 run's (the files share one process: a list of paths would reorder them).
  [ "${#TEST_ARGS[@]}" -gt 0 ] || for f in "${VM_SKIP[@]}"; do rm "$R/repo/$f"; done
  RUN="bun test --timeout 300000 $([ "${#TEST_ARGS[@]}" -gt 0 ] && printf '%q ' "${TEST_ARGS[@]}" || true)"
fi
cat >"$R/init" <<EOF
#!/bin/busybox sh
# The initial ramfs (rootfs) is a root pivot_root refuses to leave, so a
# sandbox could not be started from it: first the whole image moves to a
# tmpfs that becomes / (switch_root empties the ramfs behind it, so the
# memory is not held twice), and this script runs again from there.
if [ -z "\$BUN_USERNS_ON_TMPFS" ]; then
  /bin/busybox mkdir /newroot
  /bin/busybox mount -t tmpfs -o mode=0755 root /newroot
  for f in /*; do [ "\$f" = /newroot ] || /bin/busybox cp -a "\$f" /newroot/; done
  BUN_USERNS_ON_TMPFS=1 exec /bin/busybox switch_root /newroot /init
fi
/bin/busybox --install -s /bin
# Existing files are kept: util-linux's unshare, setpriv and nsenter, bash and bun, not busybox's applets.
export PATH=/usr/bin:/bin HOME=/root TMPDIR=/tmp LANG=C.UTF-8 CI=true NO_COLOR=1 BUN_USERNS_EMULATED=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs -o mode=1777 tmp /tmp
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs shm /dev/shm
ip link set lo up 2>/dev/null
hostname aarch64-vm
echo "BUN_USERNS_VM_START \$(uname -m) \$(uname -r) cpus=\$(nproc) bun=\$(bun --version)"
cd /repo
if [ "${WATCHDOG}" -gt 0 ]; then # a hang's diagnosis: every process's state, wait channel and kernel stack
  ( sleep ${WATCHDOG}; echo "BUN_USERNS_VM_WATCHDOG after ${WATCHDOG} s"
    for d in /proc/[0-9]*; do
      echo "== \${d#/proc/} \$(cat \$d/comm 2>/dev/null) \$(sed -n 's/^State:\t//p; s/^TracerPid:\t/tracer=/p; s/^PPid:\t/ppid=/p' \$d/status 2>/dev/null | tr '\n' ' ') wchan=\$(cat \$d/wchan 2>/dev/null)"
      for t in \$d/task/*; do echo "  task \${t##*/} \$(sed -n 's/^State:\t//p' \$t/status 2>/dev/null) \$(cat \$t/wchan 2>/dev/null)"; cat \$t/stack 2>/dev/null | head -12 | sed 's/^/    /'; done
    done ) &
fi
$RUN </dev/null 2>&1
echo "BUN_USERNS_VM_DONE rc=\$?"
poweroff -f
EOF
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet >"$CACHE/initramfs.cpio")
say "kernel $KVER, bun $BUNVER, initramfs $(du -m "$CACHE/initramfs.cpio" | cut -f1) MiB, prepared in $(($(date +%s) - t_start)) s"

# --- 6. boot, run, read the markers back ---------------------------------------
LOG="$CACHE/last-$MODE.log"
t_boot=$(date +%s)
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-aarch64 -M virt -cpu "$CPU" -smp 2 -m 2048 -nographic -no-reboot \
  -nic none -kernel "$KERNEL" -initrd "$CACHE/initramfs.cpio" \
  -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" </dev/null >"$LOG.raw" 2>&1
qemu_rc=$?
tr -d '\r' <"$LOG.raw" >"$LOG" # written as it runs: tail -f "$LOG.raw" to watch
set -e
wall=$(($(date +%s) - t_boot))
say "VM wall time ${wall} s (qemu exit ${qemu_rc}), log $LOG"

if [ "$MODE" = bench ]; then
  grep -E '^(bench|aarch64)' "$LOG" || true
  grep -q '^BUN_USERNS_VM_DONE rc=0$' "$LOG" || { tail -30 "$LOG" >&2; die "bench did not complete"; }
  exit 0
fi

# Where the time went: each file's tests' summed durations, slowest first.
awk '/^test\/.*\.test\.ts:$/ { f = substr($0, 1, length($0) - 1) }
  /^\((pass|fail)\).*\[[0-9.]+ms\]$/ { d = $0; sub(/.*\[/, "", d); sub(/ms\]$/, "", d); t[f] += d / 1000 }
  END { for (k in t) printf "aarch64: %7.1f s %s\n", t[k], k }' "$LOG" | sort -k2,2 -rn | head -15 >&2

# Failures and skips by name, then the counts bun test printed.
grep -E '^\(fail\)' "$LOG" >&2 || true
grep -E '^BUN_USERNS_VM_START' "$LOG" >&2 || true
done_line=$(grep -E '^BUN_USERNS_VM_DONE rc=[0-9]+$' "$LOG" | tail -1 || true)
pass=$(grep -E '^ *[0-9]+ pass$' "$LOG" | tail -1 | grep -oE '[0-9]+' || true)
fail=$(grep -E '^ *[0-9]+ fail$' "$LOG" | tail -1 | grep -oE '[0-9]+' || true)
skip=$(grep -E '^ *[0-9]+ skip$' "$LOG" | tail -1 | grep -oE '[0-9]+' || true)
pass=${pass:-0}
fail=${fail:-0}
if [ -z "$done_line" ]; then
  tail -40 "$LOG" >&2
  say "the VM did not report (timeout ${TIMEOUT} s, or it crashed)"
  fail=$((fail + 1))
elif [ "${done_line#*rc=}" != 0 ] && [ "$fail" -eq 0 ]; then
  tail -40 "$LOG" >&2
  fail=1 # bun test failed without a summary
fi
[ "$pass" -eq 0 ] && [ "$fail" -eq 0 ] && fail=1
say "${skip:-0} skipped (tools absent from the image; see README, aarch64), total $(($(date +%s) - t_start)) s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
