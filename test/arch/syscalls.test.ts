// The two syscall headers define the same names, and each number is
// the one its architecture's kernel headers give (checked where a compiler
// for that architecture is installed; otherwise those cases skip and say so).
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const NATIVE = join(import.meta.dir, "..", "..", "native");
const HEADERS = { x86_64: "syscalls_x86_64.h", aarch64: "syscalls_aarch64.h" } as const;

function numbers(file: string): Map<string, number> {
  const text = readFileSync(join(NATIVE, file), "utf8");
  return new Map([...text.matchAll(/^#define (SYS_\w+) (\d+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
}

/** A compiler that targets ARCH from this machine, if one is installed. */
function compilerFor(arch: keyof typeof HEADERS): string | null {
  const own = process.arch === (arch === "x86_64" ? "x64" : "arm64");
  return Bun.which(`${arch}-linux-gnu-gcc`) ?? (own ? Bun.which("gcc") : null);
}

test("syscalls_x86_64.h and syscalls_aarch64.h define the same SYS_* names", () => {
  const x86 = numbers(HEADERS.x86_64);
  const arm = numbers(HEADERS.aarch64);
  expect(x86.size).toBeGreaterThan(20);
  expect([...arm.keys()].sort()).toEqual([...x86.keys()].sort());
});

for (const arch of ["x86_64", "aarch64"] as const) {
  const cc = compilerFor(arch);
  describe.skipIf(!cc)(
    `${HEADERS[arch]} against the kernel headers (needs ${arch}-linux-gnu-gcc or a native gcc)`,
    () => {
      test(`every SYS_* of ${HEADERS[arch]} is __NR_* of <asm/unistd.h> for ${arch}`, () => {
        const ours = numbers(HEADERS[arch]);
        const src = `#include <asm/unistd.h>\n${[...ours.keys()].map((k) => `${k} __NR_${k.slice(4)}`).join("\n")}\n`;
        const r = Bun.spawnSync([cc as string, "-E", "-P", "-x", "c", "-"], { stdin: Buffer.from(src) });
        expect(r.stderr.toString()).toBe("");
        const theirs = new Map(
          [...r.stdout.toString().matchAll(/^(SYS_\w+) (\d+)$/gm)].map((m) => [m[1] as string, Number(m[2])]),
        );
        expect(Object.fromEntries(theirs)).toEqual(Object.fromEntries(ours));
      });

      test(`the per-arch open flag O_NOFOLLOW of ${HEADERS[arch]} is <asm/fcntl.h>'s for ${arch}`, () => {
        const ours = /^#define O_NOFOLLOW (0[0-7]+)$/m.exec(readFileSync(join(NATIVE, HEADERS[arch]), "utf8"))?.[1];
        expect(ours).toBeDefined();
        const r = Bun.spawnSync([cc as string, "-E", "-P", "-x", "c", "-"], {
          stdin: Buffer.from("#include <asm/fcntl.h>\nO_NOFOLLOW_IS O_NOFOLLOW\n"),
        });
        const theirs = /^O_NOFOLLOW_IS (0[0-7]+)$/m.exec(r.stdout.toString())?.[1];
        expect(Number.parseInt(theirs ?? "x", 8)).toBe(Number.parseInt(ours as string, 8));
      });

      test(`native/userns.c builds for ${arch} with gcc -Werror, libc-free`, () => {
        const dir = mkdtempSync(join(tmpdir(), "bun-userns-arch-"));
        try {
          const so = join(dir, "libuserns.so");
          const flags = ["-O2", "-Wall", "-Werror", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-fPIC"];
          const r = Bun.spawnSync([cc as string, ...flags, "-shared", "-o", so, join(NATIVE, "userns.c")]);
          expect(r.stderr.toString()).toBe("");
          expect(r.exitCode).toBe(0);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    },
  );
}
