// Hostile and malformed input: a clear error naming the problem, and no
// helper started (the native spawn is never even attempted).
import { describe, expect, test } from "bun:test";
import { spawnAttempts } from "../../src/core/helper-codec.ts";
import {
  CLONE_NEWIPC,
  CLONE_NEWUSER,
  getUsernsFd,
  liveHelpers,
  UsernsError,
  unshareAfterEnterUserns,
  unshareAfterEnterUsernsSync,
} from "../../src/index.ts";
import { helperChildren } from "../support/proc.ts";

const OK = "0:1000:1";
type Case = {
  name: string;
  uid?: unknown;
  gid?: unknown;
  flags?: unknown;
  f?: unknown;
  options?: unknown;
  kind: "UsernsError" | "TypeError";
  text: string;
  /** The UsernsError's step (code EINVAL for all): "parse" unless given. */
  step?: string;
};

const manyExtents = (n: number) => Array.from({ length: n }, (_, i) => `${i}:${i}:1`).join(",");
const bigText = Array.from({ length: 300 }, (_, i) => `${1000000000 + i}:${2000000000 + i}:1`).join(",");

const cases: Case[] = [
  // map strings: format
  { name: "empty map", uid: "", kind: "UsernsError", text: "require the format" },
  { name: "lone colon", uid: ":", kind: "UsernsError", text: "require the format" },
  { name: "two fields", uid: "0:1000", kind: "UsernsError", text: "require the format" },
  { name: "four fields", uid: "0:1000:1:2", kind: "UsernsError", text: "require the format" },
  { name: "trailing comma", uid: "0:1000:1,", kind: "UsernsError", text: "require the format" },
  { name: "semicolon list", uid: "0:1000:1;1:2:3", kind: "UsernsError", text: "require the format" },
  { name: "semicolon in a field", uid: "0:1000:1;2", kind: "UsernsError", text: 'parsing "1;2"' },
  { name: "huge string", uid: "x".repeat(1_000_000), kind: "UsernsError", text: "mapping text is 1000001 bytes" },
  // map strings: Atoi syntax
  { name: "leading space", uid: " 0:1000:1", kind: "UsernsError", text: 'parsing " 0": invalid syntax' },
  { name: "trailing space", uid: "0:1000:1 ", kind: "UsernsError", text: 'parsing "1 ": invalid syntax' },
  { name: "newline", uid: "0:1000:1\n", kind: "UsernsError", text: 'parsing "1\\n": invalid syntax' },
  { name: "NUL byte", uid: "0:1000:1\u0000", kind: "UsernsError", text: 'parsing "1\\x00": invalid syntax' },
  { name: "NBSP", uid: "0:\u00a01000:1", kind: "UsernsError", text: "invalid host id" },
  { name: "BOM", uid: "0:1000:\ufeff1", kind: "UsernsError", text: "\\ufeff1" },
  { name: "exponent", uid: "1e3:0:1", kind: "UsernsError", text: 'parsing "1e3"' },
  { name: "hex", uid: "0x10:0:1", kind: "UsernsError", text: 'parsing "0x10"' },
  { name: "binary", uid: "0b11:0:1", kind: "UsernsError", text: 'parsing "0b11"' },
  { name: "underscore", uid: "1_000:0:1", kind: "UsernsError", text: 'parsing "1_000"' },
  { name: "fraction", uid: "1.5:0:1", kind: "UsernsError", text: 'parsing "1.5"' },
  { name: "Arabic-Indic digit", uid: "٣:0:1", kind: "UsernsError", text: 'parsing "٣"' },
  { name: "fullwidth digit", uid: "０:0:1", kind: "UsernsError", text: 'parsing "０"' },
  { name: "Infinity", uid: "Infinity:0:1", kind: "UsernsError", text: 'parsing "Infinity"' },
  { name: "NaN text", uid: "NaN:0:1", kind: "UsernsError", text: 'parsing "NaN"' },
  { name: "double sign", uid: "+-1:0:1", kind: "UsernsError", text: 'parsing "+-1"' },
  { name: "double minus", uid: "--1:0:1", kind: "UsernsError", text: 'parsing "--1"' },
  { name: "sign only", uid: "+:0:1", kind: "UsernsError", text: 'parsing "+"' },
  { name: "int64 overflow", uid: "0:9223372036854775808:1", kind: "UsernsError", text: "value out of range" },
  // map strings: sign and the kernel's rules
  { name: "negative container id", uid: "-1:0:1", kind: "UsernsError", text: "must be positive integers" },
  { name: "negative host id", uid: "0:-1:1", kind: "UsernsError", text: "must be positive integers" },
  { name: "negative size", uid: "0:0:-1", kind: "UsernsError", text: "must be positive integers" },
  { name: "reserved id", uid: "0:4294967295:1", kind: "UsernsError", text: "reserves 4294967295" },
  { name: "u32 truncation", uid: "0:4294968296:1", kind: "UsernsError", text: "truncate it to 1000" },
  { name: "2^32 container id", uid: "4294967296:0:1", kind: "UsernsError", text: "truncate it to 0" },
  { name: "int64 max", uid: "0:9223372036854775807:1", kind: "UsernsError", text: "and refuse it" },
  { name: "size 0", uid: "0:1000:0", kind: "UsernsError", text: "size must be at least 1" },
  { name: "wrapping range", uid: "0:4294967290:10", kind: "UsernsError", text: "wraps" },
  {
    name: "overlap, container side",
    uid: "0:1000:10,5:2000:1",
    kind: "UsernsError",
    text: "overlap on container ids 5-5",
  },
  {
    name: "overlap, host side",
    uid: "0:1000:10,100:1005:1",
    kind: "UsernsError",
    text: "overlap on host ids 1005-1005",
  },
  { name: "duplicate extent", uid: "0:1000:1,0:1000:1", kind: "UsernsError", text: "overlap" },
  { name: "341 extents", uid: manyExtents(341), kind: "UsernsError", text: "too many mappings: 341" },
  { name: "4096-byte map text", uid: bigText, kind: "UsernsError", text: "at most 4095 bytes" },
  { name: "bad gid map", gid: "0:1000:x", kind: "UsernsError", text: "invalid size" },
  // map arrays
  { name: "empty array", uid: [], kind: "UsernsError", text: "at least one mapping" },
  { name: "null entry", uid: [null], kind: "TypeError", text: "mapping[0] must be an object" },
  { name: "array entry", uid: [[0, 1000, 1]], kind: "TypeError", text: "got array" },
  { name: "empty entry", uid: [{}], kind: "TypeError", text: "containerID is missing" },
  {
    name: "string field",
    uid: [{ containerID: "0", hostID: 1000, size: 1 }],
    kind: "TypeError",
    text: "must be a number",
  },
  {
    name: "NaN field",
    uid: [{ containerID: Number.NaN, hostID: 1000, size: 1 }],
    kind: "UsernsError",
    text: "NaN is not an integer",
  },
  {
    name: "fractional field",
    uid: [{ containerID: 0, hostID: 1000, size: 1.5 }],
    kind: "UsernsError",
    text: "1.5 is not an integer",
  },
  {
    name: "Infinity field",
    uid: [{ containerID: 0, hostID: Number.POSITIVE_INFINITY, size: 1 }],
    kind: "UsernsError",
    text: "Infinity is not an integer",
  },
  {
    name: "negative field",
    uid: [{ containerID: -1, hostID: 1000, size: 1 }],
    kind: "UsernsError",
    text: "positive integers",
  },
  {
    name: "2^32 field",
    uid: [{ containerID: 0, hostID: 2 ** 32, size: 1 }],
    kind: "UsernsError",
    text: "truncate it to 0",
  },
  {
    name: "huge bigint field",
    uid: [{ containerID: 0, hostID: 1n << 70n, size: 1 }],
    kind: "UsernsError",
    text: "above 4294967294",
  },
  {
    name: "size 0 field",
    uid: [{ containerID: 0, hostID: 1000, size: 0 }],
    kind: "UsernsError",
    text: "size must be at least 1",
  },
  {
    name: "inherited fields",
    uid: [Object.create({ containerID: 0, hostID: 1000, size: 1 })],
    kind: "TypeError",
    text: "containerID is missing",
  },
  {
    name: "__proto__ key from JSON",
    uid: [JSON.parse('{"__proto__": {"containerID": 0, "hostID": 1000, "size": 1}}')],
    kind: "TypeError",
    text: "containerID is missing",
  },
  {
    name: "boolean field",
    uid: [{ containerID: true, hostID: 1000, size: 1 }],
    kind: "TypeError",
    text: "got boolean",
  },
  // other map types
  { name: "number map", uid: 42, kind: "TypeError", text: "must be a string or an array" },
  { name: "null map", uid: null, kind: "TypeError", text: "got null" },
  { name: "undefined map", uid: undefined, kind: "TypeError", text: "got undefined" },
  { name: "object map", uid: { containerID: 0, hostID: 1000, size: 1 }, kind: "TypeError", text: "got object" },
  { name: "String object map", uid: new String("0:1000:1"), kind: "TypeError", text: "got object" },
  // flags
  { name: "string flags", flags: "0", kind: "TypeError", text: "unshare flags must be a number" },
  { name: "bigint flags", flags: 1n, kind: "TypeError", text: "unshare flags must be a number" },
  { name: "NaN flags", flags: Number.NaN, kind: "UsernsError", text: "invalid unshare flags NaN", step: "flags" },
  { name: "negative flags", flags: -1, kind: "UsernsError", text: "invalid unshare flags -1", step: "flags" },
  { name: "fractional flags", flags: 1.5, kind: "UsernsError", text: "invalid unshare flags 1.5", step: "flags" },
  {
    name: "flags above 32 bits",
    flags: 2 ** 32,
    kind: "UsernsError",
    text: "invalid unshare flags 4294967296",
    step: "flags",
  },
  {
    name: "CLONE_NEWUSER",
    flags: CLONE_NEWUSER,
    kind: "UsernsError",
    text: "should not include user namespace",
    step: "flags",
  },
  { name: "CLONE_IO", flags: 0x80000000, kind: "UsernsError", text: "unshare: invalid argument", step: "unshare" },
  {
    name: "CLONE_VM",
    flags: 0x100 | CLONE_NEWIPC,
    kind: "UsernsError",
    text: "unshare: invalid argument",
    step: "unshare",
  },
  // callbacks
  { name: "string callback", f: "not a function", kind: "TypeError", text: "callback must be a function" },
  { name: "object callback", f: {}, kind: "TypeError", text: "callback must be a function" },
  { name: "number callback", f: 42, kind: "TypeError", text: "callback must be a function" },
  // options
  { name: "string options", options: "deny", kind: "TypeError", text: "options must be an object" },
  { name: "array options", options: [], kind: "TypeError", text: "options must be an object" },
  { name: "unknown option", options: { setGroups: "deny" }, kind: "TypeError", text: 'unknown option "setGroups"' },
  {
    name: "setgroups value",
    options: { setgroups: "maybe" },
    kind: "UsernsError",
    text: 'invalid setgroups "maybe"',
    step: "options",
  },
  { name: "setgroups type", options: { setgroups: 1 }, kind: "TypeError", text: "options.setgroups must be a string" },
  {
    name: "owner value",
    options: { owner: "root" },
    kind: "UsernsError",
    text: 'invalid owner "root"',
    step: "options",
  },
  { name: "signal type", options: { signal: {} }, kind: "TypeError", text: "must be an AbortSignal" },
  {
    name: "negative timeout",
    options: { timeout: -1 },
    kind: "UsernsError",
    text: "invalid timeout -1",
    step: "options",
  },
  {
    name: "NaN timeout",
    options: { timeout: Number.NaN },
    kind: "UsernsError",
    text: "invalid timeout NaN",
    step: "options",
  },
  { name: "string timeout", options: { timeout: "1" }, kind: "TypeError", text: "options.timeout must be a number" },
];

test("the table holds at least 60 hostile inputs", () => {
  expect(cases.length).toBeGreaterThanOrEqual(60);
});

describe("hostile input: clear error, nothing created", () => {
  for (const c of cases) {
    const args = () =>
      [
        "uid" in c ? c.uid : OK,
        "gid" in c ? c.gid : OK,
        "flags" in c ? c.flags : CLONE_NEWIPC,
        "f" in c ? c.f : undefined,
        "options" in c ? c.options : undefined,
      ] as Parameters<typeof unshareAfterEnterUsernsSync>;

    test(c.name, async () => {
      const spawnsBefore = spawnAttempts();
      let syncError: unknown;
      try {
        unshareAfterEnterUsernsSync(...args());
      } catch (e) {
        syncError = e;
      }
      let asyncError: unknown;
      try {
        await unshareAfterEnterUserns(...args());
      } catch (e) {
        asyncError = e;
      }
      for (const e of [syncError, asyncError]) {
        expect(e).toBeInstanceOf(c.kind === "TypeError" ? TypeError : UsernsError);
        expect((e as Error).message).toContain(c.text);
        // The specific refusal: which check said no, not just that something did.
        const refusal: { code: string; step: string } | null =
          e instanceof UsernsError ? { code: e.code, step: e.step } : null;
        expect(refusal).toEqual(c.kind === "UsernsError" ? { code: "EINVAL", step: c.step ?? "parse" } : null);
      }
      expect(spawnAttempts()).toBe(spawnsBefore);
      expect(liveHelpers()).toEqual([]);
      expect(helperChildren()).toEqual([]);
    });
  }

  test("getUsernsFd validates the same way", async () => {
    const before = spawnAttempts();
    await expect(getUsernsFd("0:4294968296:1", OK)).rejects.toThrow("truncate it to 1000");
    await expect(getUsernsFd(OK, OK, { owner: "nobody" } as never)).rejects.toThrow('invalid owner "nobody"');
    expect(spawnAttempts()).toBe(before);
  });
});
