/**
 * A command run as another host uid cannot type into the caller's terminal
 * (TIOCSTI) nor reopen it (/dev/tty), and `bun-userns exec` stays usable
 * interactively on its own pty. Each test runs its subject on a pty of its
 * own (the library's pty op), made the controlling terminal of a new
 * session by util-linux setsid -c: the terminal an attacker would target.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, closeSync, mkdtempSync, readlinkSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReadStream } from "node:tty";
import * as processCodec from "../src/core/process-codec.ts";
import { isRoot } from "./support/proc.ts";

const CLI = join(import.meta.dir, "..", "src", "cli.ts");
/** A host uid that is not ours: the command's, through the namespace's map. */
const OTHER = "0:47001:1000";
const cc = Bun.which("cc");
const setsid = Bun.which("setsid");
const MISSING = !isRoot
  ? "needs root (maps another host uid)"
  : cc === null
    ? "needs a C compiler (cc) for the TIOCSTI program"
    : setsid === null
      ? "needs util-linux setsid (-c: a controlling terminal for the test's shell)"
      : undefined;
const BOUND_MS = 20_000;

const dir = mkdtempSync(join(tmpdir(), "bun-userns-tty-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Pushes argv[1] into a terminal with TIOCSTI: its fd 0, then /dev/tty (its
 * controlling terminal, whatever its stdio). Prints each errno (0: pushed).
 */
const INJECT_C = `#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
static int push(int fd, const char *s) {
  for (; *s; s++) if (ioctl(fd, TIOCSTI, s) < 0) return errno;
  return 0;
}
int main(int argc, char **argv) {
  const char *s = argc > 1 ? argv[1] : "";
  int e0 = push(0, s), fd = open("/dev/tty", O_RDWR | O_NOCTTY), et = fd < 0 ? errno : push(fd, s);
  printf("sti0=%d devtty=%d\\n", e0, et);
  return 0;
}
`;

let injector = "";
function buildInjector(): string {
  if (injector !== "") return injector;
  // The command runs as host uid 47001: it must reach and run the program.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "inject.c"), INJECT_C);
  const r = Bun.spawnSync([cc as string, "-O0", "-o", join(dir, "inject"), join(dir, "inject.c")]);
  if (r.exitCode !== 0) throw new Error(`cc failed: ${r.stderr.toString()}`);
  injector = join(dir, "inject");
  return injector;
}

/** A pty of the test's, with argv run under setsid -w -c on its slave (its controlling terminal). */
function onPty(argv: string[], size = { rows: 40, cols: 100 }) {
  const pty = processCodec.ptyOpen(-1);
  if (typeof pty === "number") throw new Error(`ptyOpen: ${pty}`);
  processCodec.setWinsize(pty.master, size);
  const proc = Bun.spawn([setsid as string, "-w", "-c", ...argv], {
    stdio: [pty.slave, pty.slave, pty.slave],
    env: { ...process.env, TERM: "xterm", PS1: "$ " },
  });
  const name = readlinkSync(`/proc/self/fd/${pty.slave}`);
  closeSync(pty.slave);
  let text = "";
  const waiters: (() => void)[] = [];
  const reader = new ReadStream(pty.master);
  reader.on("data", (d: Buffer) => {
    text += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  reader.on("error", () => {});
  return {
    /** The pty's /dev/pts name. */
    name,
    get text() {
      return text;
    },
    /** Wait (bounded) until the output from `from` on matches. */
    async until(re: RegExp, from = 0): Promise<RegExpMatchArray> {
      const deadline = performance.now() + BOUND_MS;
      for (;;) {
        const m = text.slice(from).match(re);
        if (m) return m;
        if (performance.now() > deadline) throw new Error(`no ${re} in output: ${JSON.stringify(text)}`);
        await new Promise<void>((res) => {
          waiters.push(res);
          setTimeout(res, 200);
        });
      }
    },
    type(s: string): void {
      writeSync(pty.master, s);
    },
    resize(rows: number, cols: number): void {
      processCodec.setWinsize(pty.master, { rows, cols });
    },
    exited: proc.exited,
    close(): void {
      proc.kill(9);
      reader.destroy();
    },
  };
}

const bunCli = `${process.execPath} ${CLI}`;

/**
 * The attack: CMD (another host uid) pushes a command line into the
 * terminal; the shell that started bun-userns reads its next line once the
 * CLI has exited. It must be what the user types (SENTINEL), not CMD's.
 */
async function outerReadAfter(cli: string): Promise<{ read: string; cmd: string }> {
  const inj = buildInjector();
  const t = onPty([
    "sh",
    "-c",
    `${cli} -- ${inj} 'echo INJECTED'; echo cli-done:$?; IFS= read -r line; echo "outer-read:[$line]"`,
  ]);
  try {
    const cmd = await t.until(/sti0=\d+ devtty=\d+/);
    await t.until(/cli-done:0/);
    t.type("SENTINEL\n");
    const m = await t.until(/outer-read:\[([^\]\r\n]*)\]/);
    expect(await t.exited).toBe(0);
    return { read: m[1] as string, cmd: cmd[0] };
  } finally {
    t.close();
  }
}

describe.skipIf(MISSING !== undefined)(`terminal of a command run as another uid (${MISSING ?? "root"})`, () => {
  test("exec on a terminal: CMD's TIOCSTI never reaches the shell that ran bun-userns (it gets its own pty)", async () => {
    const r = await outerReadAfter(`${bunCli} exec --map ${OTHER}`);
    expect(r.read).toBe("SENTINEL");
  });

  test("exec --no-pty: CMD has no controlling terminal (TIOCSTI EPERM, /dev/tty ENXIO); nothing reaches the shell", async () => {
    const r = await outerReadAfter(`${bunCli} exec --no-pty --map ${OTHER}`);
    expect(r.cmd).toBe("sti0=1 devtty=6");
    expect(r.read).toBe("SENTINEL");
  });

  test("stdin not a terminal: CMD cannot reopen ours through /dev/tty (new session); nothing reaches the shell", async () => {
    const r = await outerReadAfter(`: | ${bunCli} exec --map ${OTHER}`);
    expect(r.cmd).toBe("sti0=25 devtty=6"); // ENOTTY on the pipe, ENXIO: no controlling terminal
    expect(r.read).toBe("SENTINEL");
  });

  test("enter --target as another uid: the same, through a pty", async () => {
    // A target whose user namespace maps root to 47001.
    const target = Bun.spawn([process.execPath, CLI, "exec", "--map", OTHER, "--", "sleep", "1000"], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    try {
      const pid = await waitForChildUserns(target.pid);
      const r = await outerReadAfter(`${bunCli} enter --target ${pid} -U`);
      expect(r.read).toBe("SENTINEL");
    } finally {
      target.kill(9);
      await target.exited;
    }
  });

  test("exec -- sh interactively: output, ^C to a job, ^Z stops one, window size and SIGWINCH, exit status", async () => {
    const t = onPty([process.execPath, CLI, "exec", "--map", OTHER, "--", "sh", "-i"], { rows: 40, cols: 100 });
    try {
      await t.until(/\$ $/);
      // Typed text is echoed: each marker is computed, so only the output matches.
      t.type("echo $((6*7)); tty; stty size\n");
      const first = await t.until(/\n42\r*\n(\/dev\/pts\/\d+)\r*\n(\d+ \d+)\r*\n/);
      // Its own terminal, not ours, at our size.
      expect(first[1]).not.toBe(t.name);
      expect(first[2]).toBe("40 100");
      let at = t.text.length;
      t.type("sh -c 'echo s$((1+1))s; exec sleep 100'\n");
      await t.until(/s2s/, at);
      t.type("\x03");
      await t.until(/\$ $/, at);
      at = t.text.length;
      t.type("echo rc=$?\n");
      expect((await t.until(/rc=(\d+)/, at))[1]).toBe("130");
      at = t.text.length;
      t.type("sh -c 'echo z$((1+1))z; exec sleep 100'\n");
      await t.until(/z2z/, at);
      t.type("\x1a");
      await t.until(/Stopped/, at);
      t.type("kill -9 %1\n");
      at = t.text.length;
      // A foreground job that prints the size when SIGWINCH reaches it: only
      // once the CLI has copied the new size onto CMD's pty.
      t.type(`sh -c 'trap "stty size; exit" WINCH; echo w$((1+1))w; while :; do sleep 1; done'\n`);
      await t.until(/w2w/, at);
      at = t.text.length;
      t.resize(50, 132);
      expect((await t.until(/(\d+ \d+)\r*\n/, at))[1]).toBe("50 132");
      await t.until(/\$ $/, at);
      t.type("exit 3\n");
      expect(await t.exited).toBe(3);
    } finally {
      t.close();
    }
  });
});

/** The pid of the process in a new user namespace below `parent` (the CLI's CMD). */
async function waitForChildUserns(parent: number): Promise<number> {
  const { readFileSync, readlinkSync } = await import("node:fs");
  const ours = readlinkSync("/proc/self/ns/user");
  const deadline = performance.now() + BOUND_MS;
  while (performance.now() < deadline) {
    const kids = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    for (const k of kids) {
      try {
        if (readlinkSync(`/proc/${k}/ns/user`) !== ours && readFileSync(`/proc/${k}/comm`, "utf8") === "sleep\n")
          return Number(k);
      } catch {}
    }
    await Bun.sleep(20);
  }
  throw new Error("the target never started");
}

/** Run by a child Bun whose controlling terminal is the test's pty: what each command of spawnInside sees. */
const SESSIONS_TS = (root: string, inj: string) => `
import { spawnInside, startHelper } from ${JSON.stringify(join(root, "src", "index.ts"))};
import { readFileSync } from "node:fs";
const stat = (t) => t.slice(t.lastIndexOf(")") + 2).split(" ");
const ours = stat(readFileSync("/proc/self/stat", "utf8"))[3];
async function run(h, opts, text) {
  const p = spawnInside(h, ["sh", "-c", 'cat /proc/self/stat; exec ${inj} "$0"', text], { ...opts, stdio: [opts.stdio?.[0] ?? "inherit", "pipe", opts.stdio?.[2] ?? "inherit"] });
  const [st, inj] = (await new Response(p.stdout).text()).trim().split("\\n");
  await p.exited;
  const f = stat(st);
  return { sameSession: f[3] === ours, ttyNr: Number(f[4]), inj };
}
using other = startHelper(${JSON.stringify(OTHER)}, ${JSON.stringify(OTHER)}, 0);
using same = startHelper("0:0:1", "0:0:1", 0);
const out = {
  otherDefault: await run(other, {}, "#"),
  otherPipes: await run(other, { stdio: ["ignore", "pipe", "pipe"] }, "#"),
  otherKept: await run(other, { newSession: false }, ""),
  sameDefault: await run(same, {}, ""),
  sameNew: await run(same, { newSession: true }, "#"),
};
console.log("RESULT" + JSON.stringify(out));
`;

describe.skipIf(MISSING !== undefined)(`spawnInside newSession (${MISSING ?? "root"})`, () => {
  test("default: a command of another uid leaves our session and terminal (tty_nr 0, TIOCSTI EPERM, /dev/tty ENXIO); our own uid stays; the option overrides", async () => {
    const inj = buildInjector();
    const script = join(dir, "sessions.ts");
    writeFileSync(script, SESSIONS_TS(join(import.meta.dir, ".."), inj));
    const t = onPty([process.execPath, script]);
    try {
      const m = await t.until(/RESULT(\{.*\})\r*\n/);
      const r = JSON.parse(m[1] as string);
      expect(await t.exited).toBe(0);
      // The attack: stdin is our terminal, stdio pipes (reopened through /dev/tty).
      expect(r.otherDefault).toEqual({ sameSession: false, ttyNr: 0, inj: "sti0=1 devtty=6" });
      expect(r.otherPipes).toEqual({ sameSession: false, ttyNr: 0, inj: "sti0=25 devtty=6" });
      // Asked to keep it, it keeps our session and terminal.
      expect(r.otherKept.sameSession).toBe(true);
      expect(r.otherKept.ttyNr).not.toBe(0);
      // Our own uid: unchanged by default, and a new session when asked.
      expect(r.sameDefault.sameSession).toBe(true);
      expect(r.sameDefault.ttyNr).not.toBe(0);
      expect(r.sameNew).toEqual({ sameSession: false, ttyNr: 0, inj: "sti0=1 devtty=6" });
    } finally {
      t.close();
    }
  });
});
