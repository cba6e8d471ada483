// Shared CLI plumbing: the typed flag schema (--help generated from it), one-line failures.
import { type CommandSpec, type FlagValues, helpText, parseCommand, UsageError } from "./_flags.ts";

export { UsageError };

/**
 * Parses a command's flags against its schema; prints the generated help and exits 0 on --help.
 * Bad values throw a {@linkcode UsageError} (exit status 2 through {@linkcode runCli}).
 */
export function parse<S extends CommandSpec>(
  argv: readonly string[],
  spec: S,
): { values: FlagValues<S>; positionals: string[]; given: Set<string> } {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(helpText(spec));
    Deno.exit(0);
  }
  return parseCommand(argv, spec);
}

/** Prints a warning line (a flag without effect, a questionable setting). */
export function warn(message: string): void {
  console.error(`warning: ${message}`);
}

/**
 * Runs `main`, turning an exception into a one-line message (the stack with --debug): exit
 * status 2 for a bad command line (with a pointer to --help), 1 for any other failure.
 */
export async function runCli(main: () => Promise<void>, helpHint = "--help"): Promise<void> {
  try {
    await main();
  } catch (e) {
    const usage = e instanceof UsageError;
    if (Deno.args.includes("--debug")) console.error(e);
    else {
      const msg = (e as Error)?.message ?? String(e);
      console.error(`error: ${msg.split("\n")[0]}${usage ? ` (see ${helpHint})` : ""}`);
    }
    Deno.exit(usage ? 2 : 1);
  }
}

/**
 * On Ctrl-C (SIGINT) or SIGTERM, prints `describe()` (what was kept, how to continue) and exits
 * with status 130 instead of dying silently.
 */
export function onInterrupt(describe: () => string): void {
  const handler = () => {
    let what = "";
    try {
      what = describe();
    } catch { /* the description is best effort */ }
    console.error(`\ninterrupted${what ? `: ${what}` : ""}`);
    Deno.exit(130);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(sig, handler);
    } catch { /* signals unsupported on this platform */ }
  }
}

/** A one-line progress display: done/total, rate, ETA, and extra fields. */
export class Progress {
  #start = performance.now();
  #last = 0;
  #label: string;
  #total: number;
  #unit: string;

  /** Starts the clock. */
  constructor(label: string, total: number, unit = "jets") {
    this.#label = label;
    this.#total = total;
    this.#unit = unit;
  }

  /** Updates the line (at most every 200 ms unless `force`). */
  update(done: number, extra = "", force = false): void {
    const now = performance.now();
    if (!force && now - this.#last < 200) return;
    this.#last = now;
    const sec = (now - this.#start) / 1000, rate = done / Math.max(sec, 1e-9);
    const eta = rate > 0 ? (this.#total - done) / rate : 0;
    const pct = this.#total ? ((100 * done) / this.#total).toFixed(1) : "?";
    const line = `${this.#label}: ${done}/${this.#total} ${this.#unit} (${pct}%) ${
      rate.toFixed(0)
    } ${this.#unit}/s, ETA ${formatDuration(eta)}${extra ? `, ${extra}` : ""}`;
    if (Deno.stdout.isTerminal()) {
      Deno.stdout.writeSync(new TextEncoder().encode(`\r${line}\x1b[K`));
    } else console.log(line);
  }

  /** Prints the final line. */
  done(done: number, extra = ""): void {
    this.update(done, extra, true);
    if (Deno.stdout.isTerminal()) console.log();
  }
}

/** "1h02m", "3m05s", "12s". */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return "?";
  const s = Math.round(sec), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m
    ? `${m}m${String(s % 60).padStart(2, "0")}s`
    : `${s}s`;
}

/**
 * Runs a data-parallel rank's work. Ranks above 0 write into a private `scratch` folder: when
 * their work fails, the folder is removed and the error names the rank and the run folder
 * instead of the scratch path (rank 0's own error says the same about the real folder).
 */
export async function inScratch<T>(
  rank: number,
  scratch: string,
  out: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (rank === 0) throw e;
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
    if (e instanceof Error) e.message = `rank ${rank}: ${e.message.replaceAll(scratch, out)}`;
    throw e;
  }
}

/**
 * The private scratch folder of data-parallel rank `rank` (> 0) for the run in `out`: one name
 * per run and rank in the temporary directory, emptied first, so that what a killed run left
 * there (a rank stopped by SIGKILL cannot clean up) is reused rather than piling up.
 */
export async function rankScratch(rank: number, out: string): Promise<string> {
  const abs = out.startsWith("/") ? out : `${Deno.cwd()}/${out}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(abs));
  const id = [...new Uint8Array(digest)].slice(0, 8).map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/mpm-rank${rank}-${id}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}
