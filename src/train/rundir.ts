/**
 * Run folders: a new run never replaces another run's files unless asked (`overwrite`), a
 * resumed run must be a complete run of the same kind, and nothing in the folder is touched until
 * the caller has validated its inputs and acquired its device ({@linkcode checkRunDir} only looks;
 * {@linkcode claimRunDir} then writes). Every run folder holds `run.json`: what kind of run, when,
 * the command, and the inputs (files with size and fingerprint, seed, preprocessing).
 *
 * @module
 */
import { exists, writeJsonAtomic } from "../io/files.ts";
import type { FileFingerprint } from "../io/fingerprint.ts";

/** Kinds of run folder. */
export type RunKind =
  | "pretrain"
  | "finetune"
  | "evaluate"
  | "vqvae"
  | "sweep"
  | "study"
  | "generate";

/** `run.json`: what made a run folder and from what. */
export interface RunRecord {
  /** Format tag. */
  format: "mpm-webgpu-run/1";
  /** Kind of run. */
  kind: RunKind;
  /** ISO time the run started. */
  created: string;
  /** The command line, when run from the CLI. */
  command?: string[];
  /** Input files by role (`train`, `val`, `test`, `backbone`, ...), with fingerprints. */
  inputs: Record<string, FileFingerprint[]>;
  /** The run seed. */
  seed?: number;
  /** Anything else the run records (preprocessing kind, tasks). */
  [key: string]: unknown;
}

/** A run folder that cannot be used as asked: names the folder, what is in it, and the flag. */
export class RunDirError extends Error {
  /** The error, its message naming the folder and the flag to use. */
  constructor(message: string) {
    super(message);
    this.name = "RunDirError";
  }
}

/** Files that mark a folder as a run (of this or an earlier version). */
const RUN_MARKERS = ["run.json", "config.json", "finetune.json", "metrics.csv", "metrics.json"];

async function entries(dir: string): Promise<string[] | null> {
  try {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) out.push(e.name);
    return out.sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    if (e instanceof Deno.errors.NotADirectory) {
      throw new RunDirError(`${dir} is a file, not a folder; choose another --out`);
    }
    throw e;
  }
}

/** The run record of a folder, or null when it has none. */
export async function readRunRecord(dir: string): Promise<RunRecord | null> {
  if (!(await exists(`${dir}/run.json`))) return null;
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/run.json`));
  } catch (e) {
    throw new RunDirError(`${dir}/run.json: unreadable (${(e as Error).message})`);
  }
}

/**
 * Checks, without writing anything, that `dir` can take a run: for a new run it must be absent,
 * empty, or (with `overwrite`) an earlier run; for `resume` it must be a run of `kind` holding the
 * files `required`.
 *
 * @throws {RunDirError} naming the folder, what it holds, and the flag to use
 */
export async function checkRunDir(
  dir: string,
  o: { kind: RunKind; overwrite?: boolean; resume?: boolean; required?: readonly string[] },
): Promise<void> {
  const found = await entries(dir);
  if (o.resume) {
    if (!found) throw new RunDirError(`--resume ${dir}: no such run folder`);
    const rec = await readRunRecord(dir);
    if (rec && rec.kind !== o.kind) {
      throw new RunDirError(`--resume ${dir}: a ${rec.kind} run, not a ${o.kind} run`);
    }
    const missing = (o.required ?? []).filter((f) => !found.includes(f));
    if (missing.length) {
      throw new RunDirError(
        `--resume ${dir}: not a complete ${o.kind} run (missing ${
          missing.join(", ")
        }); start it again with --out ${dir} --overwrite`,
      );
    }
    return;
  }
  if (!found || found.length === 0) return;
  const isRun = found.some((f) => RUN_MARKERS.includes(f));
  const shown = found.slice(0, 4).join(", ") +
    (found.length > 4 ? `, ... (${found.length} entries)` : "");
  if (!isRun) {
    throw new RunDirError(
      `--out ${dir} holds files that are not a run (${shown}); choose a new or empty folder`,
    );
  }
  if (!o.overwrite) {
    throw new RunDirError(
      `--out ${dir} already holds a run (${shown}); continue it with --resume ${dir}, replace it with --overwrite, or choose another --out`,
    );
  }
}

/**
 * Takes the folder for a new run after {@linkcode checkRunDir} passed and the inputs and device
 * are ready: with `overwrite`, the earlier run is removed first; then `run.json` is written.
 */
export async function claimRunDir(
  dir: string,
  record: {
    kind: RunKind;
    inputs: Record<string, FileFingerprint[]>;
    command?: string[];
    seed?: number;
    [key: string]: unknown;
  },
  o: { overwrite?: boolean } = {},
): Promise<RunRecord> {
  await checkRunDir(dir, { kind: record.kind, overwrite: o.overwrite });
  if (o.overwrite && (await entries(dir))?.length) await Deno.remove(dir, { recursive: true });
  await Deno.mkdir(dir, { recursive: true });
  const full: RunRecord = {
    ...record,
    format: "mpm-webgpu-run/1",
    created: new Date().toISOString(),
  };
  await writeJsonAtomic(`${dir}/run.json`, full);
  return full;
}

/**
 * Refuses to write `path` over an existing file unless `overwrite`, and refuses to write an
 * output over one of the inputs in any case.
 *
 * @throws {RunDirError} naming the file and the flag
 */
export async function checkOutputFile(
  path: string,
  o: { overwrite?: boolean; inputs?: readonly string[]; flag?: string },
): Promise<void> {
  const flag = o.flag ?? "--out";
  const real = async (p: string) => {
    try {
      return await Deno.realPath(p);
    } catch {
      return p;
    }
  };
  const target = await real(path);
  for (const i of o.inputs ?? []) {
    if ((await real(i)) === target) {
      throw new RunDirError(`${flag} ${path} is also an input; writing it would destroy the input`);
    }
  }
  if (!o.overwrite && (await exists(path))) {
    throw new RunDirError(
      `${flag} ${path} exists; pass --overwrite to replace it, or choose another ${flag}`,
    );
  }
}
