// /etc/subuid and /etc/subgid parsing: what shadow accepts, and hostile lines skipped.
import { describe, expect, test } from "bun:test";
import { UsernsError } from "../src/core/errors.ts";
import { parseSubid, subordinateIds } from "../src/rootless/subid.ts";
import { thrown } from "./support/errors.ts";

const OWNERS = ["alice", "1000"];

describe("parseSubid", () => {
  test("entries by name or by uid, several ranges, comments and blank lines", () => {
    const text = "# comment\n\nalice:100000:65536\nbob:200000:65536\n1000:300000:10\r\nalice:400000:1\n";
    expect(parseSubid(text, OWNERS)).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
      { start: 400000, count: 1 },
    ]);
  });

  const hostile: [string, string][] = [
    ["empty count", "alice:100000:"],
    ["zero count", "alice:100000:0"],
    ["negative start", "alice:-1:10"],
    ["plus sign", "alice:+100000:10"],
    ["hex", "alice:0x10:10"],
    ["float", "alice:1.5:10"],
    ["exponent", "alice:1e5:10"],
    ["spaces", "alice: 100000:10"],
    ["trailing space", "alice:100000:10 "],
    ["four fields", "alice:100000:10:5"],
    ["two fields", "alice:100000"],
    ["u32 overflow", "alice:4294967296:1"],
    ["reserved id", "alice:4294967295:1"],
    ["range wraps", "alice:4294967290:10"],
    ["11 digits", "alice:00000000001:1"],
    ["other user with our name inside", "xalice:100000:10"],
    ["name with a space", "alice :100000:10"],
    ["NUL", "alice\0:100000:10"],
    ["non-ASCII digits", "alice:١٠٠:10"],
    ["commented out", "#alice:100000:10"],
  ];
  for (const [name, line] of hostile) {
    test(`skips ${name}: ${JSON.stringify(line)}`, () => {
      expect(parseSubid(`${line}\nalice:500000:5\n`, OWNERS)).toEqual([{ start: 500000, count: 5 }]);
    });
  }

  test("the largest valid range", () => {
    expect(parseSubid("alice:4294967294:1", OWNERS)).toEqual([{ start: 4294967294, count: 1 }]);
  });
});

describe("subordinateIds", () => {
  test("a user with no entry: UsernsError naming the file and the user", () => {
    const e = thrown(() => subordinateIds("no-such-user-bun-userns")) as UsernsError;
    expect(e).toBeInstanceOf(UsernsError);
    expect(e.step).toBe("subid");
    expect(e.message).toMatch(/^no subordinate ids for no-such-user-bun-userns( in|: cannot read) \/etc\/subuid$/);
    expect(e.hint).toContain("no-such-user-bun-userns:100000:65536");
  });

  test("wrong types are TypeErrors", () => {
    expect(thrown(() => subordinateIds({} as unknown as string))).toBeInstanceOf(TypeError);
    expect(thrown(() => subordinateIds(-1))).toBeInstanceOf(TypeError);
  });
});
