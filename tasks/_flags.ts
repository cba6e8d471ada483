// One typed flag schema for every command: each flag declares its type (integer, number, string
// with choices, boolean, path that must exist or must not, list), its range and its help line.
// The parser checks every value before any work and fails with the flag's name, the value and
// what is allowed; `--help` is generated from the same schema.

/** A flag's declaration. */
export type FlagSpec =
  | {
    type: "int" | "number";
    help: string;
    default?: number;
    /** Smallest allowed value (inclusive). */
    min?: number;
    /** Largest allowed value (inclusive). */
    max?: number;
    /** Values must be strictly greater than `above`. */
    above?: number;
    /** Placeholder in the usage line (default N / X). */
    meta?: string;
  }
  | {
    type: "string";
    help: string;
    default?: string;
    choices?: readonly string[];
    /** Appended to the error for a value outside `choices`. */
    hint?: string;
    /** Repeatable: every occurrence is kept. */
    multiple?: boolean;
    meta?: string;
  }
  | { type: "bool"; help: string }
  | {
    type: "path";
    help: string;
    default?: string;
    /** `exist`: the file or folder must exist; `file`: must be an existing file. */
    must?: "exist" | "file";
    /** Repeatable (`--data a.h5 --data b.h5`, or several values after one flag). */
    multiple?: boolean;
    meta?: string;
  }
  | {
    type: "list";
    of: "int" | "number" | "string";
    help: string;
    default?: readonly (number | string)[];
    min?: number;
    max?: number;
    /** Exact number of entries. */
    length?: number;
    choices?: readonly string[];
    meta?: string;
  };

/** A command: its name, one-line summary, flags, positional arguments and notes. */
export interface CommandSpec {
  /** As typed: `deno task pretrain`, `deno task data synth`. */
  name: string;
  /** What it does (first lines of --help). */
  summary: string;
  /** The flags. */
  flags: Record<string, FlagSpec>;
  /** Positional arguments (paths), with a name for the usage line. */
  positionals?: { name: string; help: string; min?: number; max?: number; mustExist?: boolean };
  /** Paragraphs after the flag table (writes, examples). */
  notes?: string;
}

type ValueOf<F extends FlagSpec> = F extends { type: "int" | "number" } ? number
  : F extends { type: "bool" } ? boolean
  : F extends { type: "list"; of: "string" } ? string[]
  : F extends { type: "list" } ? number[]
  : F extends { type: "path" | "string"; multiple: true } ? string[]
  : string;

/** Parsed flag values: defaulted flags are always set, others may be undefined. */
export type FlagValues<S extends CommandSpec> = {
  [K in keyof S["flags"]]: S["flags"][K] extends { default: unknown } | { type: "bool" }
    ? ValueOf<S["flags"][K]>
    : ValueOf<S["flags"][K]> | undefined;
};

/** A bad command line: printed as one line with a pointer to --help, exit status 2. */
export class UsageError extends Error {
  /** The error, its message naming the flag, the value and what is allowed. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Common flags every command accepts. */
const COMMON: Record<string, FlagSpec> = {
  help: { type: "bool", help: "this text" },
  debug: { type: "bool", help: "print stack traces of errors" },
};

function describe(f: FlagSpec): string {
  if (f.type === "int" || f.type === "number") {
    const kind = f.type === "int" ? "an integer" : "a number";
    const bounds = [
      f.min !== undefined ? `>= ${f.min}` : "",
      f.above !== undefined ? `> ${f.above}` : "",
      f.max !== undefined ? `<= ${f.max}` : "",
    ].filter(Boolean);
    return bounds.length ? `${kind} ${bounds.join(" and ")}` : kind;
  }
  if (f.type === "string" && f.choices) return `one of ${f.choices.join(", ")}`;
  if (f.type === "list") {
    let what = f.of === "string"
      ? (f.choices ? `names (${f.choices.join(", ")})` : "names")
      : f.of === "int"
      ? "integers"
      : "numbers";
    const bounds = [
      f.min !== undefined ? `>= ${f.min}` : "",
      f.max !== undefined ? `<= ${f.max}` : "",
    ].filter(Boolean);
    if (bounds.length) what += ` ${bounds.join(" and ")}`;
    return `a comma-separated list${f.length ? ` of ${f.length}` : ""} of ${what}`;
  }
  if (f.type === "path") return f.must ? "an existing path" : "a path";
  return "a value";
}

function parseNumber(name: string, raw: string, f: Extract<FlagSpec, { type: "int" | "number" }>) {
  const v = raw.trim() === "" ? NaN : Number(raw);
  const ok = Number.isFinite(v) && (f.type !== "int" || Number.isInteger(v)) &&
    (f.min === undefined || v >= f.min) && (f.max === undefined || v <= f.max) &&
    (f.above === undefined || v > f.above);
  if (!ok) throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected ${describe(f)}`);
  return v;
}

function parseValue(name: string, raw: string, f: FlagSpec): unknown {
  switch (f.type) {
    case "int":
    case "number":
      return parseNumber(name, raw, f);
    case "string":
      if (f.choices && !f.choices.includes(raw)) {
        throw new UsageError(
          `--${name} ${JSON.stringify(raw)}: expected one of ${f.choices.join(", ")}${
            f.hint ? ` (${f.hint})` : ""
          }`,
        );
      }
      return raw;
    case "path":
      if (raw === "") throw new UsageError(`--${name}: expected a path, got an empty value`);
      if (f.must) checkPath(`--${name}`, raw, f.must);
      return raw;
    case "list": {
      const parts = raw.split(",").map((s) => s.trim());
      if (f.length !== undefined && parts.length !== f.length) {
        throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected ${describe(f)}`);
      }
      if (parts.some((p) => p === "")) {
        throw new UsageError(
          `--${name} ${JSON.stringify(raw)}: an entry is empty; expected ${describe(f)}`,
        );
      }
      if (f.of === "string") {
        const bad = f.choices ? parts.filter((p) => !f.choices!.includes(p)) : [];
        if (bad.length) {
          throw new UsageError(
            `--${name}: unknown ${bad.map((b) => `"${b}"`).join(", ")} (available: ${
              f.choices!.join(", ")
            })`,
          );
        }
        return parts;
      }
      const el = { type: f.of, help: "", min: f.min, max: f.max } as const;
      try {
        return parts.map((p) => parseNumber(name, p, el));
      } catch {
        throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected ${describe(f)}`);
      }
    }
    default:
      return raw;
  }
}

/** Fails unless `path` exists (as a file when `must` is "file"). */
export function checkPath(what: string, path: string, must: "exist" | "file"): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(path);
  } catch {
    throw new UsageError(`${what} ${path}: no such ${must === "file" ? "file" : "file or folder"}`);
  }
  if (must === "file" && !st.isFile) throw new UsageError(`${what} ${path}: is not a file`);
}

/**
 * Parses `argv` against a command's schema: `--name value`, `--name=value`, booleans without a
 * value, repeated or multi-valued paths, positionals. Unknown flags, missing values and values out
 * of range fail with a {@linkcode UsageError}.
 */
export function parseCommand<S extends CommandSpec>(
  argv: readonly string[],
  spec: S,
): { values: FlagValues<S>; positionals: string[]; given: Set<string> } {
  const flags = { ...COMMON, ...spec.flags };
  const values: Record<string, unknown> = {}, given = new Set<string>(), positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--") || a === "--") {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const f = flags[name];
    if (!f) {
      const near = Object.keys(flags).filter((k) => k.startsWith(name.slice(0, 3)));
      throw new UsageError(
        `unknown flag --${name}${
          near.length ? ` (did you mean ${near.map((k) => `--${k}`).join(", ")}?)` : ""
        }`,
      );
    }
    given.add(name);
    if (f.type === "bool") {
      if (eq > 0) {
        const v = a.slice(eq + 1);
        if (v !== "true" && v !== "false") {
          throw new UsageError(`--${name}=${v}: expected no value, true or false`);
        }
        values[name] = v === "true";
      } else values[name] = true;
      continue;
    }
    const take = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2 && isNaN(Number(next)))) {
        throw new UsageError(`--${name} needs a value (${describe(f)})`);
      }
      i++;
      return next;
    };
    if (f.type === "string" && f.multiple) {
      values[name] = [
        ...((values[name] as string[] | undefined) ?? []),
        parseValue(name, take(), f),
      ];
    } else if (f.type === "path" && f.multiple) {
      const list = (values[name] as string[] | undefined) ?? [];
      list.push(parseValue(name, take(), f) as string);
      // Several values after one flag: `--data a.h5 b.h5`.
      while (eq < 0 && argv[i + 1] !== undefined && !argv[i + 1].startsWith("--")) {
        list.push(parseValue(name, argv[++i], f) as string);
      }
      values[name] = list;
    } else {
      if (given.has(name) && values[name] !== undefined) {
        throw new UsageError(`--${name} is given twice`);
      }
      values[name] = parseValue(name, take(), f);
    }
  }
  for (const [name, f] of Object.entries(flags)) {
    if (values[name] !== undefined) continue;
    if (f.type === "bool") values[name] = false;
    else if ("default" in f && f.default !== undefined) {
      values[name] = f.type === "path" && f.multiple ? [f.default] : f.default;
    }
  }
  const p = spec.positionals;
  if (!p && positionals.length) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(positionals[0])} (flags start with --)`,
    );
  }
  if (p) {
    if (positionals.length < (p.min ?? 0)) throw new UsageError(`give ${p.name} (${p.help})`);
    if (p.max !== undefined && positionals.length > p.max) {
      throw new UsageError(`at most ${p.max} ${p.name}; got ${positionals.length}`);
    }
    if (p.mustExist) { for (const x of positionals) checkPath(p.name, x, "file"); }
  }
  return { values: values as FlagValues<S>, positionals, given };
}

/** The `--help` text of a command, generated from its schema. */
export function helpText(spec: CommandSpec): string {
  const flags = { ...spec.flags, ...COMMON };
  const meta = (name: string, f: FlagSpec) => {
    if (f.type === "bool") return `--${name}`;
    const m = f.meta ??
      (f.type === "int" || f.type === "number"
        ? "N"
        : f.type === "string" && f.choices
        ? f.choices.join("|")
        : f.type === "list"
        ? "A,B,..."
        : f.type === "path"
        ? (f.multiple ? "FILE..." : "PATH")
        : "VALUE");
    return `--${name} ${m}`;
  };
  const rows = Object.entries(flags).map(([n, f]) => {
    const def = "default" in f && f.default !== undefined
      ? ` (default ${Array.isArray(f.default) ? f.default.join(",") : f.default})`
      : "";
    const range = f.type === "int" || f.type === "number" || f.type === "list"
      ? `; ${describe(f)}`
      : "";
    return [meta(n, f), `${f.help}${def}${range}`];
  });
  const w = Math.min(32, Math.max(...rows.map((r) => r[0].length)) + 2);
  const lines = [
    `${spec.name}${spec.positionals ? ` ${spec.positionals.name}` : ""} [flags]`,
    "",
    spec.summary.trim(),
    "",
  ];
  if (spec.positionals) lines.push(`  ${spec.positionals.name.padEnd(w)}${spec.positionals.help}`);
  for (const [m, h] of rows) {
    lines.push(m.length + 2 > w ? `  ${m}\n  ${" ".repeat(w)}${h}` : `  ${m.padEnd(w)}${h}`);
  }
  if (spec.notes) lines.push("", spec.notes.trim());
  return lines.join("\n");
}
