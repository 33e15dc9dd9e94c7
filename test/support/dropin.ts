/**
 * Side by side with util-linux: run the real tool and ours with the same
 * options and the same probe as CMD, and report what CMD observed in a form
 * both must match exactly (namespaces as "ours"/"new" relative to the
 * caller's, maps, setgroups, ids, directory, root, capabilities, the
 * propagation of one shared scratch mount, and how CMD ended).
 */
import { chmodSync, mkdtempSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BUN_USERNS = [process.execPath, join(import.meta.dir, "..", "..", "src", "cli.ts")];
export const hasUtilLinux = Bun.which("unshare") !== null && Bun.which("nsenter") !== null;

const KINDS = ["user", "mnt", "net", "uts", "ipc", "pid", "pid_for_children", "cgroup", "time", "time_for_children"];

/** Our (the caller's) namespace links, passed to the probe to compare against. */
export function ourLinks(): string[] {
  return KINDS.map((k) => readlinkSync(`/proc/self/ns/${k}`));
}

/**
 * The probe, as a shell script: one "key=value" line per observation. A
 * namespace is "ours" when its link is the caller's, "new" otherwise; pid
 * only when it is 1 (other pids differ run to run). SHARED is a scratch
 * mount point whose propagation fields are reported by kind only.
 */
const PROBE = `
set -u
i=0
for k in ${KINDS.join(" ")}; do
  i=$((i+1)); eval ref=\\\${$i}
  cur=$(readlink /proc/self/ns/$k 2>/dev/null || echo none)
  if [ "$cur" = "$ref" ]; then echo "ns.$k=ours"; elif [ "$cur" = none ]; then echo "ns.$k=none"; else echo "ns.$k=new"; fi
done
echo "uid_map=$(tr -s ' ' < /proc/self/uid_map | sed 's/^ //' | sort | tr '\\n' ';')"
echo "gid_map=$(tr -s ' ' < /proc/self/gid_map | sed 's/^ //' | sort | tr '\\n' ';')"
echo "setgroups=$(cat /proc/self/setgroups)"
echo "ids=$(id -u):$(id -g):$(id -G | tr ' ' ,)"
echo "cwd=$(pwd -P)"
echo "root=$(stat -L -c %d:%i /)"
grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status | tr -d '\\t' | sed 's/^/caps./'
[ "$$" = 1 ] && echo "pid=1"
if [ -n "\${SHARED:-}" ]; then
  line=$(grep " $SHARED " /proc/self/mountinfo | head -1)
  prop=""
  for f in $line; do case "$f" in shared:*) prop="$prop shared";; master:*) prop="$prop master";; -) break;; esac; done
  echo "propagation=\${prop:- private}"
  [ -n "\${LATER:-}" ] && { read -r _ ; grep -q " $LATER " /proc/self/mountinfo && echo "later=seen" || echo "later=unseen"; }
fi
exit 0
`;

let probePath: string | undefined;
/** The probe's path (written once per test process). */
export function probe(): string {
  if (probePath === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "dropin-probe-"));
    chmodSync(dir, 0o755); // CMD may run as another uid (-S)
    probePath = join(dir, "probe.sh");
    writeFileSync(probePath, PROBE, { mode: 0o755 });
  }
  return probePath;
}

export interface Outcome {
  stdout: string;
  code: number | null;
  signal: string | null;
}

/** Run argv to its end; stdin from `input` (or nothing). */
export async function run(
  argv: string[],
  o: { env?: Record<string, string>; input?: string; cwd?: string; during?: (pid: number) => Promise<void> } = {},
): Promise<Outcome> {
  const p = Bun.spawn(argv, {
    stdin: o.input === undefined ? "ignore" : "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...o.env },
    cwd: o.cwd,
  });
  if (o.during) await o.during(p.pid);
  if (o.input !== undefined && p.stdin) {
    p.stdin.write(o.input);
    await p.stdin.end();
  }
  const [stdout] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  return { stdout, code: p.exitCode, signal: p.signalCode === null ? null : String(p.signalCode) };
}

/** The probe's lines as a record, for a readable diff. */
export function observed(o: Outcome): Record<string, string> {
  const out: Record<string, string> = { exit: o.signal ?? String(o.code) };
  for (const line of o.stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
    else if (line.includes(":")) {
      const [k, v] = line.split(":");
      out[k as string] = (v as string).trim();
    }
  }
  return out;
}
