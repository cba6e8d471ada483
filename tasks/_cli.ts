// Shared CLI plumbing: parseArgs with unknown-flag errors, --help, one-line failures.
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Parses flags strictly; prints `help` and exits 0 on --help. */
export function parseFlags(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  help: string,
): {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
} {
  const all = {
    ...options,
    help: { type: "boolean" as const },
    debug: { type: "boolean" as const },
  };
  try {
    const r = parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
    if (r.values.help) {
      console.log(help.trim());
      Deno.exit(0);
    }
    return r as ReturnType<typeof parseFlags>;
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n\n${help.trim()}`);
    Deno.exit(2);
  }
}

/** Runs `main`, turning an exception into a one-line message (stack with --debug) and exit 1. */
export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (Deno.args.includes("--debug")) console.error(e);
    else console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
