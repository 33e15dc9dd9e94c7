/** Sample statistics for the benchmark (microseconds in, numbers out). */
export interface Summary {
  n: number;
  medianUs: number;
  p99Us: number;
  opsPerSec: number;
}

export function summarize(samplesUs: number[]): Summary {
  const s = [...samplesUs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  const total = s.reduce((a, b) => a + b, 0);
  return { n: s.length, medianUs: at(0.5), p99Us: at(0.99), opsPerSec: s.length / (total / 1e6) };
}
