import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { UsernsError } from "../src/core/errors.ts";
import { atoi, goQuote, MAX_EXTENTS, mapText, parseIDMapping } from "../src/core/idmap.ts";

const FORMAT = "user namespace mappings require the format `container-id:host-id:size`";

function errorOf(fn: () => unknown): UsernsError | TypeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsernsError || e instanceof TypeError) return e;
    throw e;
  }
  throw new Error("expected an error");
}

describe("Go strconv.Atoi semantics (seed-semantics.md §3.2)", () => {
  const ok: [string, [number, number, number]][] = [
    ["0:1000:10", [0, 1000, 10]],
    ["+5:1000:1", [5, 1000, 1]],
    ["+0:+1000:+1", [0, 1000, 1]],
    ["-0:1000:1", [0, 1000, 1]],
    ["007:01000:010", [7, 1000, 10]],
    ["0:4294967294:1", [0, 4294967294, 1]],
    ["4294967294:0:1", [4294967294, 0, 1]],
    ["0:0:4294967295", [0, 0, 4294967295]],
  ];
  for (const [input, [c, h, s]] of ok) {
    test(`accepts ${JSON.stringify(input)}`, () => {
      const [e] = parseIDMapping(input);
      expect(e).toEqual({ containerID: c, hostID: h, size: s });
      expect(Object.is(e?.containerID, -0)).toBe(false);
    });
  }

  const syntax: [string, string][] = [
    [" 0:1000:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing " 0": invalid syntax'],
    ["0:1000:1 ", 'invalid size for user namespace remapping, strconv.Atoi: parsing "1 ": invalid syntax'],
    ["0:1000:1\n", 'invalid size for user namespace remapping, strconv.Atoi: parsing "1\\n": invalid syntax'],
    ["0:1000:\t1", 'invalid size for user namespace remapping, strconv.Atoi: parsing "\\t1": invalid syntax'],
    ["1e3:1000:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "1e3": invalid syntax'],
    ["0:0x10:1", 'invalid host id for user namespace remapping, strconv.Atoi: parsing "0x10": invalid syntax'],
    ["0:0b11:1", 'invalid host id for user namespace remapping, strconv.Atoi: parsing "0b11": invalid syntax'],
    ["1_000:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "1_000": invalid syntax'],
    ["1.0:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "1.0": invalid syntax'],
    ["5abc:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "5abc": invalid syntax'],
    [":1000:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "": invalid syntax'],
    ["0::1", 'invalid host id for user namespace remapping, strconv.Atoi: parsing "": invalid syntax'],
    ["0:1000:", 'invalid size for user namespace remapping, strconv.Atoi: parsing "": invalid syntax'],
    ["::", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "": invalid syntax'],
    ["+:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "+": invalid syntax'],
    ["-:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "-": invalid syntax'],
    ["--1:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "--1": invalid syntax'],
    ["+-1:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "+-1": invalid syntax'],
    ["٣:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "٣": invalid syntax'],
    ["０:0:1", 'invalid container id for user namespace remapping, strconv.Atoi: parsing "０": invalid syntax'],
    [
      "Infinity:0:1",
      'invalid container id for user namespace remapping, strconv.Atoi: parsing "Infinity": invalid syntax',
    ],
    [
      "\u00a01:0:1",
      'invalid container id for user namespace remapping, strconv.Atoi: parsing "\\u00a01": invalid syntax',
    ],
    [
      "\ufeff1:0:1",
      'invalid container id for user namespace remapping, strconv.Atoi: parsing "\\ufeff1": invalid syntax',
    ],
    ['"1":0:1', 'invalid container id for user namespace remapping, strconv.Atoi: parsing "\\"1\\"": invalid syntax'],
  ];
  for (const [input, message] of syntax) {
    test(`rejects ${JSON.stringify(input)} with Go's message`, () => {
      const e = errorOf(() => parseIDMapping(input)) as UsernsError;
      expect(e).toBeInstanceOf(UsernsError);
      expect(e.message).toBe(message);
      expect(e.code).toBe("EINVAL");
      expect(e.errno).toBe(22);
      expect(e.step).toBe("parse");
      expect((e.cause as UsernsError).code).toBe("ERR_SYNTAX");
      expect((e.cause as Error).message).toStartWith("strconv.Atoi: parsing ");
    });
  }

  test("int64 range: 9223372036854775807 parses, one more is out of range", () => {
    expect(atoi("9223372036854775807")).toBe(9223372036854775807n);
    expect(atoi("-9223372036854775808")).toBe(-9223372036854775808n);
    const e = errorOf(() => parseIDMapping("0:9223372036854775808:1")) as UsernsError;
    expect(e.message).toBe(
      'invalid host id for user namespace remapping, strconv.Atoi: parsing "9223372036854775808": value out of range',
    );
    expect(e.code).toBe("EINVAL");
    expect((e.cause as UsernsError).code).toBe("ERR_RANGE");
    expect((e.cause as UsernsError).errno).toBe(34);
    expect((errorOf(() => parseIDMapping("0:99999999999999999999:1")) as Error).message).toContain(
      "value out of range",
    );
    // Cannot fit the kernel's one write: refused by size before any digit is parsed.
    expect((errorOf(() => parseIDMapping(`0:1:${"9".repeat(100000)}`)) as Error).message).toStartWith(
      "mapping text is 100005 bytes once normalised",
    );
    // Leading zeros are dropped by normalising, so they do not count; the value is still exact.
    expect(parseIDMapping(`0:1:${"0".repeat(100000)}7`)).toEqual([{ containerID: 0, hostID: 1, size: 7 }]);
    // A long bad field is quoted, but not whole.
    const long = (errorOf(() => parseIDMapping(`0:1:${"+".repeat(3000)}`)) as Error).message;
    expect(long).toContain('parsing "++++');
    expect(long).toContain("… (3000 characters)");
    expect(long.length).toBeLessThan(200);
    expect(atoi(`${"0".repeat(50)}12`)).toBe(12n);
  });

  test("negative values: the seed's 'positive integers' message after all three parse", () => {
    for (const s of ["-1:1000:1", "0:-1:1", "0:1000:-1", "0:-9223372036854775808:1"]) {
      expect((errorOf(() => parseIDMapping(s)) as Error).message).toBe(
        `invalid mapping ${s}, all IDs and size must be positive integers`,
      );
    }
    // Parse errors win over the sign check, in field order.
    expect((errorOf(() => parseIDMapping("-1:x:1")) as Error).message).toStartWith("invalid host id");
  });

  test("format: anything but three colon-separated fields per mapping", () => {
    for (const s of ["", ":", "0:1000", "0:1000:1:2", "0", "0:1000:1,", ",0:1000:1", "0:1000:1,,1:2:1"]) {
      const e = errorOf(() => parseIDMapping(s)) as UsernsError;
      expect(e.message).toBe(FORMAT);
      expect(e.code).toBe("EINVAL");
    }
  });
});

describe("kernel rules, applied before anything is created", () => {
  test("ids the kernel would truncate to u32 (the seed's silent privilege bug)", () => {
    const e = errorOf(() => parseIDMapping("0:4294968296:1")) as UsernsError;
    expect(e.message).toBe(
      "invalid mapping 0:4294968296:1, host id 4294968296 is above 4294967294 (the kernel would silently truncate it to 1000)",
    );
    expect(e.code).toBe("EINVAL");
    expect(e.errno).toBe(22);
    expect((errorOf(() => parseIDMapping("4294967296:0:1")) as Error).message).toContain(
      "container id 4294967296 is above 4294967294 (the kernel would silently truncate it to 0)",
    );
    expect((errorOf(() => parseIDMapping("0:9223372036854775807:1")) as Error).message).toContain(
      "truncate it to 4294967295 and refuse it",
    );
  });

  test("4294967295 is reserved on both sides", () => {
    for (const s of ["0:4294967295:1", "4294967295:0:1"]) {
      expect((errorOf(() => parseIDMapping(s)) as Error).message).toContain("the kernel reserves 4294967295");
    }
  });

  test("size 0 and ranges that wrap", () => {
    expect((errorOf(() => parseIDMapping("0:1000:0")) as Error).message).toBe(
      "invalid mapping 0:1000:0, size must be at least 1",
    );
    expect((errorOf(() => parseIDMapping("0:4294967290:6")) as Error).message).toBe(
      "invalid mapping 0:4294967290:6, host id range 4294967290-4294967295 goes past 4294967294 (the kernel refuses a range that wraps)",
    );
    expect((errorOf(() => parseIDMapping("1:0:4294967295")) as Error).message).toContain("container id range");
    expect(parseIDMapping("0:4294967290:5")).toEqual([{ containerID: 0, hostID: 4294967290, size: 5 }]);
  });

  test("overlap on either side names both mappings and the shared ids", () => {
    expect((errorOf(() => parseIDMapping("0:1000:10,5:3000:10")) as Error).message).toBe(
      "invalid mappings 0:1000:10 and 5:3000:10 overlap on container ids 5-9 (the kernel refuses overlapping ranges)",
    );
    expect((errorOf(() => parseIDMapping("0:1000:10,100:1009:1")) as Error).message).toBe(
      "invalid mappings 0:1000:10 and 100:1009:1 overlap on host ids 1009-1009 (the kernel refuses overlapping ranges)",
    );
    expect((errorOf(() => parseIDMapping("100:5000:1,0:1000:200")) as Error).message).toContain(
      "100:5000:1 and 0:1000:200 overlap on container ids 100-100",
    );
    expect(parseIDMapping("0:1000:10,10:1010:10")).toHaveLength(2);
  });

  test("340 extents are accepted, 341 are not", () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `${i}:${i}:1`).join(",");
    expect(parseIDMapping(many(MAX_EXTENTS))).toHaveLength(340);
    expect((errorOf(() => parseIDMapping(many(341))) as Error).message).toBe(
      "too many mappings: 341, the kernel accepts at most 340",
    );
  });

  test("map text of 4096 bytes or more is refused (one write below PAGE_SIZE)", () => {
    const big = Array.from({ length: 300 }, (_, i) => `${1000000000 + i}:${2000000000 + i}:1`).join(",");
    const e = errorOf(() => parseIDMapping(big)) as UsernsError;
    expect(e.message).toMatch(
      /^mapping text is \d+ bytes once normalised \(input of 7199 characters\), the kernel accepts at most 4095 bytes in one write$/,
    );
    const fits = Array.from({ length: 100 }, (_, i) => `${1000000000 + i}:${2000000000 + i}:1`).join(",");
    expect(mapText(parseIDMapping(fits)).length).toBeLessThan(4096);
  });

  test("multiple mappings keep their order and produce the kernel's text", () => {
    const m = parseIDMapping("0:1000:10,100:2000:5");
    expect(m).toEqual([
      { containerID: 0, hostID: 1000, size: 10 },
      { containerID: 100, hostID: 2000, size: 5 },
    ]);
    expect(mapText(m)).toBe("0 1000 10\n100 2000 5\n");
  });
});

describe("array input", () => {
  test("plain extents, numbers or bigints", () => {
    expect(parseIDMapping([{ containerID: 0, hostID: 1000, size: 10 }])).toEqual([
      { containerID: 0, hostID: 1000, size: 10 },
    ]);
    expect(parseIDMapping([{ containerID: 0n, hostID: 1000n, size: 1n } as never])).toEqual([
      { containerID: 0, hostID: 1000, size: 1 },
    ]);
  });

  test("wrong JS types are TypeErrors naming the entry and field", () => {
    expect(errorOf(() => parseIDMapping(42 as never))).toBeInstanceOf(TypeError);
    expect(errorOf(() => parseIDMapping(null as never)).message).toContain("got null");
    expect(errorOf(() => parseIDMapping([null] as never)).message).toBe(
      "mapping[0] must be an object { containerID, hostID, size }, got null",
    );
    expect(errorOf(() => parseIDMapping([{ containerID: "0", hostID: 1, size: 1 }] as never)).message).toBe(
      'mapping[0].containerID must be a number, got string "0"',
    );
    expect(errorOf(() => parseIDMapping([{ hostID: 1, size: 1 }] as never)).message).toBe(
      "mapping[0].containerID is missing",
    );
    const inherited = Object.create({ containerID: 0, hostID: 1000, size: 1 });
    expect(errorOf(() => parseIDMapping([inherited]))).toBeInstanceOf(TypeError);
  });

  test("bad values are UsernsErrors", () => {
    const cases: [unknown, string][] = [
      [[], "at least one mapping is required"],
      [[{ containerID: Number.NaN, hostID: 1, size: 1 }], "container id NaN is not an integer"],
      [[{ containerID: 0, hostID: 1.5, size: 1 }], "host id 1.5 is not an integer"],
      [[{ containerID: 0, hostID: 1, size: Number.POSITIVE_INFINITY }], "size Infinity is not an integer"],
      [[{ containerID: -1, hostID: 1, size: 1 }], "all IDs and size must be positive integers"],
      [[{ containerID: 0, hostID: 2 ** 32, size: 1 }], "would silently truncate it to 0"],
    ];
    for (const [input, text] of cases) {
      const e = errorOf(() => parseIDMapping(input as never));
      expect(e).toBeInstanceOf(UsernsError);
      expect(e.message).toContain(text);
    }
  });
});

describe("goQuote matches strconv.Quote", () => {
  test("escapes", () => {
    expect(goQuote('a\u0007\b\f\n\r\t\v\\"')).toBe('"a\\a\\b\\f\\n\\r\\t\\v\\\\\\""');
    expect(goQuote("\u0000\u001f\u007f")).toBe('"\\x00\\x1f\\x7f"');
    expect(goQuote("é٣０ ")).toBe('"é٣０ "');
    expect(goQuote("\u200b\u2028")).toBe('"\\u200b\\u2028"');
    expect(goQuote("\u{e0001}")).toBe('"\\U000e0001"');
  });
});

/** A small, independent model: Go's Atoi + the seed's rules + the kernel's. */
function modelAtoi(x: string): bigint | "syntax" | "range" {
  const sign = x.startsWith("+") || x.startsWith("-") ? 1 : 0;
  const digits = [...x.slice(sign)];
  if (digits.length === 0 || digits.some((d) => d < "0" || d > "9")) return "syntax";
  let v = 0n;
  for (const d of digits) v = v * 10n + BigInt(d.charCodeAt(0) - 48);
  if (x.startsWith("-")) v = -v;
  return v > 2n ** 63n - 1n || v < -(2n ** 63n) ? "range" : v;
}

function model(s: string): { ok: true; v: bigint[][] } | { ok: false; kind: string } {
  const out: bigint[][] = [];
  for (const part of s.split(",")) {
    const fields = part.split(":");
    if (fields.length !== 3) return { ok: false, kind: "format" };
    const vals: bigint[] = [];
    for (const x of fields) {
      const v = modelAtoi(x);
      if (typeof v === "string") return { ok: false, kind: v };
      vals.push(v);
    }
    if (vals.some((v) => v < 0n)) return { ok: false, kind: "negative" };
    out.push(vals);
  }
  for (const [c = 0n, h = 0n, n = 0n] of out) {
    if (c > 4294967294n || h > 4294967294n || n === 0n || c + n > 4294967295n || h + n > 4294967295n) {
      return { ok: false, kind: "kernel" };
    }
  }
  const overlaps = (a: bigint[], b: bigint[], k: number) => {
    const [a0 = 0n, an = 0n, b0 = 0n, bn = 0n] = [a[k], a[2], b[k], b[2]];
    return a0 < b0 + bn && b0 < a0 + an;
  };
  for (const [i, a] of out.entries()) {
    for (const b of out.slice(i + 1)) if (overlaps(a, b, 0) || overlaps(a, b, 1)) return { ok: false, kind: "kernel" };
  }
  if (out.length > 340) return { ok: false, kind: "kernel" };
  return { ok: true, v: out };
}

function kindOf(e: UsernsError): string {
  if (e.message === FORMAT) return "format";
  const cause = e.cause instanceof UsernsError ? e.cause.code : undefined;
  if (cause === "ERR_SYNTAX") return "syntax";
  if (cause === "ERR_RANGE") return "range";
  if (e.message.includes("must be positive integers")) return "negative";
  return "kernel";
}

describe("property: parser agrees with the reference model", () => {
  const digitish = fc.constantFrom("0", "1", "7", "9", "+", "-", " ", "x", "e", "_", ".", "٣", "\n");
  const number = fc.oneof(
    fc.bigInt({ min: 0n, max: 5000n }).map(String),
    fc.bigInt({ min: 4294967000n, max: 4294967300n }).map(String),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
    fc.string({ unit: digitish, maxLength: 6 }),
    fc.tuple(fc.constantFrom("+", "-", "0", "00"), fc.nat(3000)).map(([p, n]) => `${p}${n}`),
  );
  const triple = fc.tuple(number, number, number).map((t) => t.join(":"));
  const mapping = fc.oneof(
    triple,
    fc.array(triple, { minLength: 1, maxLength: 4 }).map((a) => a.join(",")),
    fc
      .array(fc.tuple(fc.nat(300), fc.nat(300), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 6 })
      .map((a) => a.map((t) => t.join(":")).join(",")),
    fc.string({ maxLength: 12 }),
  );

  test("5,000 generated mappings: same verdict, same values", () => {
    fc.assert(
      fc.property(mapping, (s) => {
        const want = model(s);
        let got: ReturnType<typeof model>;
        try {
          got = {
            ok: true,
            v: parseIDMapping(s).map((e) => [BigInt(e.containerID), BigInt(e.hostID), BigInt(e.size)]),
          };
        } catch (e) {
          if (!(e instanceof UsernsError)) throw e;
          got = { ok: false, kind: kindOf(e) };
        }
        expect(got).toEqual(want);
      }),
      { numRuns: 5000 },
    );
  });
});
