// Shared test helpers: one GPU per test file, seeded random data, tolerant comparisons.
import { type Gpu, requestGpu } from "../../src/gpu/gpu.ts";

let _gpu: Promise<Gpu> | null = null;

/** The test file's GPU (acquired once). Tests fail, not skip, when no adapter exists. */
export function testGpu(): Promise<Gpu> {
  return _gpu ??= requestGpu();
}

/** Mulberry32: a small seeded PRNG for test data. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [lo, hi) as a Float32Array. */
export function randn(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

/**
 * Asserts `|actual - expected| <= atol + rtol * |expected|` elementwise, reporting the first
 * mismatches (llm.c-style tolerance).
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { atol?: number; rtol?: number; label?: string } = {},
): void {
  const atol = opts.atol ?? 1e-5, rtol = opts.rtol ?? 1e-4;
  if (actual.length !== expected.length) {
    throw new Error(`${opts.label ?? ""} length ${actual.length} != ${expected.length}`);
  }
  const bad: string[] = [];
  let nbad = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= atol + rtol * Math.abs(e) : Object.is(a, e);
    if (!ok) {
      nbad++;
      if (bad.length < 5) bad.push(`[${i}] got ${a}, want ${e}`);
    }
  }
  if (nbad) {
    throw new Error(
      `${
        opts.label ?? "assertClose"
      }: ${nbad}/${actual.length} mismatches (atol ${atol}, rtol ${rtol}):\n  ${bad.join("\n  ")}`,
    );
  }
}

/** Runs `tasks/<name>.ts` with `deno run -A` in `cwd`; returns exit code and output. */
export async function runTask(
  name: string,
  cwd: string,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const script = new URL(`../../tasks/${name}.ts`, import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}
