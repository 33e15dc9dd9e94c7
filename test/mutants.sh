#!/usr/bin/env bash
# Deliberate bugs, each applied to a scratch copy of this checkout (under
# TMPDIR), each with the test file that must fail on it. Prints "caught" or
# "SURVIVED" per mutant; exits 1 if any survived or did not apply.
#   test/mutants.sh            all mutants
#   test/mutants.sh NAME...    only these (exit-mask, orphan-thread, idmap-refused)
# Needs root (the tests it runs do) and takes a few minutes; not run by CI.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUN="$ROOT/node_modules/.bin/bun"
work=$(mktemp -d "${TMPDIR:-/tmp}/bun-userns-mutants-XXXXXX")
trap 'rm -rf "$work"' EXIT

# name, file, sed (basic regex) expression, test files (the mutant must make them fail)
MUTANTS=(
  exit-mask native/exec.c
  's/return SI_STATUS(info) & 255;/return SI_STATUS(info) \& 127;/'
  test/exec.test.ts

  orphan-thread src/core/orphans.ts
  's/if (reg === undefined || threadLives(reg.tid, reg.start)) continue;/if (reg === undefined) continue;/'
  test/reliability/orphan-sweep.test.ts

  idmap-refused native/mount.c
  's/rc = sys5(SYS_mount_setattr, [^;]*;/rc = -1; \/* EPERM *\//'
  "test/mount.test.ts test/mount-cli.test.ts test/cli.test.ts"
)

# The checkout as it is now (tracked files, edits included), sharing node_modules.
(cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$work")
ln -s "$ROOT/node_modules" "$work/node_modules"

status=0
for ((i = 0; i < ${#MUTANTS[@]}; i += 4)); do
  name=${MUTANTS[i]} file=${MUTANTS[i + 1]} expr=${MUTANTS[i + 2]} tests=${MUTANTS[i + 3]}
  if [ "$#" -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  cp "$work/$file" "$work/$file.orig"
  sed -i "$expr" "$work/$file"
  if cmp -s "$work/$file" "$work/$file.orig"; then
    echo "$name: did not apply to $file (the code moved: update this script)"
    status=1
  else
    log="$work/$name.log"
    # shellcheck disable=SC2086 # the test files are a word list
    (cd "$work" && "$BUN" test --timeout 30000 $tests) >"$log" 2>&1
    rc=$?
    counts=$(grep -E '^ *[0-9]+ (pass|fail|skip)$' "$log" | tr -s ' \n' ' ')
    if [ "$rc" -ne 0 ]; then
      echo "$name: caught ($counts)"
      grep -E '^\(fail\)' "$log" | sort -u | sed 's/^/  /'
    else
      echo "$name: SURVIVED ($counts) — $tests pass with $file mutated"
      status=1
    fi
  fi
  mv "$work/$file.orig" "$work/$file"
done
exit "$status"
