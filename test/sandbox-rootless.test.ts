// sandbox() as an unprivileged user: its own id, and its subordinate ranges
// through newuidmap ("auto"). A throwaway user; every /etc file touched is
// restored byte for byte.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRoot, othersTmp, rootIsInitramfs } from "./support/proc.ts";

/** The machine's reason, if any: pivot_root cannot leave the initial ramfs. */
const PIVOT = rootIsInitramfs ? " — skipped: / is the initial ramfs here, which pivot_root refuses to leave" : "";

const tools = ["setpriv", "useradd", "newuidmap", "newgidmap"].every((t) => Bun.which(t));
const FILES = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/subuid", "/etc/subgid"];
const USER = "bunuserns-sandbox";
const UID = 2988;
const saved = new Map<string, Buffer | undefined>();
/** HOME and TMPDIR of the user's processes: removed after. */
let home = "";

describe.skipIf(!isRoot || !tools || rootIsInitramfs)(
  `sandbox rootless (needs root to make the user, util-linux setpriv, shadow's useradd and uidmap)${PIVOT}`,
  () => {
    beforeAll(() => {
      for (const f of FILES) {
        try {
          saved.set(f, readFileSync(f));
        } catch {
          saved.set(f, undefined);
        }
      }
      const r = Bun.spawnSync(["useradd", "-M", "-u", String(UID), "-s", "/bin/sh", USER], { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`useradd: ${r.stderr}`);
      writeFileSync("/etc/subuid", `${saved.get("/etc/subuid") ?? ""}${USER}:400000:65536\n`);
      writeFileSync("/etc/subgid", `${saved.get("/etc/subgid") ?? ""}${USER}:400000:65536\n`);
      home = othersTmp("bun-userns-sandbox-rootless-home-");
    });
    afterAll(() => {
      if (home) rmSync(home, { recursive: true, force: true });
      for (const [file, bytes] of saved) {
        if (bytes === undefined) rmSync(file, { force: true });
        else writeFileSync(file, bytes);
      }
    });

    test("own id and subordinate ranges: ids, caps, writes to a bind, and nothing left on the host", async () => {
      const p = Bun.spawn(
        [
          "setpriv",
          `--reuid=${UID}`,
          `--regid=${UID}`,
          "--clear-groups",
          process.execPath,
          join(import.meta.dir, "fixtures", "sandbox-rootless.ts"),
        ],
        { env: { ...process.env, HOME: home, TMPDIR: home }, stdout: "pipe", stderr: "pipe" },
      );
      const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      expect(err).toBe("");
      const r = JSON.parse(out.trim());
      expect(r.uid).toBe(UID);
      // Own id: the caller's uid mapped to itself, no capabilities, its writes land on the host.
      expect(r.own.out.split("\n")).toEqual([
        `Uid: ${UID} ${UID} ${UID} ${UID}`,
        "CapEff: 0000000000000000",
        "NoNewPrivs: 1",
        "written",
      ]);
      expect(r.leftOwn).toEqual(["f"]);
      // "auto": uid 1000 inside is the subordinate 400999 outside, which may not write the user's directory.
      const lines = r.auto.out.split("\n");
      expect(lines.slice(0, 3)).toEqual(["Uid: 1000 1000 1000 1000", "CapEff: 0000000000000000", "NoNewPrivs: 1"]);
      expect(lines.slice(3, 5).map((l: string) => l.trim())).toEqual([`0 ${UID} 1`, "1 400000 65536"]);
      expect(lines[5]).toBe("refused");
      // disableNestedUserns from an unprivileged caller: one user namespace down, every range mapped through.
      expect(r.nested.out.split("\n").map((l: string) => l.trim())).toEqual(["1000", "0 0 1", "1 1 65536", "refused"]);
      expect(r.autoRoot.out.split("\n")).toEqual(["0", "masked"]);
      expect(r.leftAuto).toEqual(["f"]);
      expect(r.overlay).toEqual({ out: "top\nwritten", err: "", code: 0 });
      expect(r.overlayUpper).toEqual(["b"]);
      // The monitor and the init of a started sandbox: sealed, though the caller is not root.
      expect(r.readable).toEqual([false, false]);
    }, 60000);
  },
);
