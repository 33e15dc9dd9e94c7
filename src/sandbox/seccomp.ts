/**
 * seccompFilter(): a classic BPF program for SECCOMP_SET_MODE_FILTER, from
 * syscall names and socket families, for x86_64 and aarch64 in one program.
 * The architecture is checked first: any other (i386 and x32 on an x86_64
 * kernel included) kills the process, so no syscall number is read under
 * the wrong table. Numbers come from src/sandbox/syscall-table.ts,
 * generated from the kernel's headers at development time.
 */
import { invalid } from "../core/errors.ts";
import { describe } from "../core/idmap.ts";
import { copyOptions } from "../core/options.ts";
import { AARCH64, X86_64 } from "./syscall-table.ts";

/** Address families by name (include/linux/socket.h). */
export const SOCKET_FAMILIES: Readonly<Record<string, number>> = Object.freeze({
  AF_UNIX: 1,
  AF_LOCAL: 1,
  AF_INET: 2,
  AF_AX25: 3,
  AF_IPX: 4,
  AF_APPLETALK: 5,
  AF_NETROM: 6,
  AF_BRIDGE: 7,
  AF_ATMPVC: 8,
  AF_X25: 9,
  AF_INET6: 10,
  AF_ROSE: 11,
  AF_DECnet: 12,
  AF_NETBEUI: 13,
  AF_SECURITY: 14,
  AF_KEY: 15,
  AF_NETLINK: 16,
  AF_PACKET: 17,
  AF_ECONET: 19,
  AF_ATMSVC: 20,
  AF_RDS: 21,
  AF_IRDA: 23,
  AF_PPPOX: 24,
  AF_WANPIPE: 25,
  AF_LLC: 26,
  AF_IB: 27,
  AF_MPLS: 28,
  AF_CAN: 29,
  AF_TIPC: 30,
  AF_BLUETOOTH: 31,
  AF_IUCV: 32,
  AF_RXRPC: 33,
  AF_ISDN: 34,
  AF_PHONET: 35,
  AF_IEEE802154: 36,
  AF_CAIF: 37,
  AF_ALG: 38,
  AF_NFC: 39,
  AF_VSOCK: 40,
  AF_KCM: 41,
  AF_QIPCRTR: 42,
  AF_SMC: 43,
  AF_XDP: 44,
  AF_MCTP: 45,
});

export interface SeccompFilterOptions {
  /** socket() and socketpair() with these families fail with `errno`. */
  readonly denySocketFamilies?: readonly (string | number)[];
  /** These syscalls fail with `errno` (a name unknown to one architecture is skipped there). */
  readonly deny?: readonly string[];
  /** Default EPERM (1). */
  readonly errno?: number;
}

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const X32_SYSCALL_BIT = 0x40000000;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const RET_ALLOW = 0x7fff0000;
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JA = 0x05;
const RET_K = 0x06;
/** struct seccomp_data: nr at 0, arch at 4, args[0] (its low half, little-endian) at 16. */
const NR = 0;
const ARCH = 4;
const ARG0 = 16;
export const BPF_MAXINSNS = 4096;

type Insn = [code: number, jt: number, jf: number, k: number];

/** One architecture's section: x32 check (x86_64), denied syscalls, denied families, allow. */
function section(
  table: Readonly<Record<string, number>>,
  deny: number[],
  families: number[],
  errno: number,
  x86: boolean,
): Insn[] {
  const out: Insn[] = [[LD_W_ABS, 0, 0, NR]];
  if (x86) out.push([JGE_K, 0, 1, X32_SYSCALL_BIT], [RET_K, 0, 0, RET_KILL_PROCESS]);
  for (const nr of deny) out.push([JEQ_K, 0, 1, nr], [RET_K, 0, 0, RET_ERRNO | errno]);
  if (families.length > 0) {
    // The family block: ld arg0, a test and a return per family, allow.
    const block = 2 + 2 * families.length;
    for (const name of ["socket", "socketpair"]) {
      const nr = table[name];
      if (nr === undefined) continue;
      out.push([JEQ_K, 0, block, nr], [LD_W_ABS, 0, 0, ARG0]);
      for (const f of families) out.push([JEQ_K, 0, 1, f], [RET_K, 0, 0, RET_ERRNO | errno]);
      out.push([RET_K, 0, 0, RET_ALLOW]);
    }
  }
  out.push([RET_K, 0, 0, RET_ALLOW]);
  return out;
}

/** The program as bytes (struct sock_filter, 8 bytes each, little-endian). */
export function seccompFilter(options: SeccompFilterOptions = {}): Uint8Array {
  const o = copyOptions(options, ["denySocketFamilies", "deny", "errno"] as const, (m) => invalid("options", m));
  const errno = o.errno === undefined ? 1 : o.errno;
  if (typeof errno !== "number" || !Number.isInteger(errno) || errno < 1 || errno > 4095)
    throw invalid("options", `seccompFilter: errno must be an integer 1-4095, got ${describe(errno)}`);
  const names = listOf(o.deny, "deny").map((n, i) => {
    if (typeof n !== "string" || (X86_64[n] === undefined && AARCH64[n] === undefined))
      throw invalid("options", `seccompFilter: deny[${i}]: unknown syscall ${describe(n)}`);
    return n;
  });
  const families = listOf(o.denySocketFamilies, "denySocketFamilies").map((f, i) => {
    const n = typeof f === "string" ? SOCKET_FAMILIES[f] : f;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 255)
      throw invalid("options", `seccompFilter: denySocketFamilies[${i}]: unknown family ${describe(f)}`);
    return n;
  });
  const numbers = (t: Readonly<Record<string, number>>) => [
    ...new Set(names.map((n) => t[n]).filter((v): v is number => v !== undefined)),
  ];
  const x86 = section(X86_64, numbers(X86_64), families, errno, true);
  const arm = section(AARCH64, numbers(AARCH64), families, errno, false);
  // Head: ld arch; jeq x86_64 → ja x86; jeq aarch64 → ja arm; kill.
  const head: Insn[] = [
    [LD_W_ABS, 0, 0, ARCH],
    [JEQ_K, 0, 1, AUDIT_ARCH_X86_64],
    [JA, 0, 0, 3],
    [JEQ_K, 0, 1, AUDIT_ARCH_AARCH64],
    [JA, 0, 0, 1 + x86.length],
    [RET_K, 0, 0, RET_KILL_PROCESS],
  ];
  const prog = [...head, ...x86, ...arm];
  if (prog.length > BPF_MAXINSNS)
    throw invalid(
      "options",
      `seccompFilter: the program has ${prog.length} instructions, more than the kernel's ${BPF_MAXINSNS}`,
    );
  const bytes = new Uint8Array(prog.length * 8);
  const v = new DataView(bytes.buffer);
  prog.forEach(([code, jt, jf, k], i) => {
    v.setUint16(i * 8, code, true);
    v.setUint8(i * 8 + 2, jt);
    v.setUint8(i * 8 + 3, jf);
    v.setUint32(i * 8 + 4, k >>> 0, true);
  });
  return bytes;
}

function listOf(v: unknown, what: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid("options", `seccompFilter: ${what} must be an array, got ${describe(v)}`);
  return Array.from(v as unknown[]);
}
