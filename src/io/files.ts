/**
 * Files: every write that must not leave a half-written file goes through here. A write goes to
 * a temporary file in the same folder (same file system), which is then renamed over the target,
 * so a reader sees the old file or the new one, never a mix.
 *
 * @module
 */

/**
 * A temporary path next to `path`, unique to this process and call. Leftovers of a crashed
 * writer carry `.tmp-` in their name.
 *
 * @param path the file that will be written
 * @returns a sibling path for the temporary file
 * @example
 * ```ts
 * import { tempPathFor } from "@mpm/webgpu/io";
 * console.assert(tempPathFor("run/model.safetensors").startsWith("run/model.safetensors.tmp-"));
 * ```
 */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${Deno.pid}-${Math.floor(Math.random() * 1e9)}`;
}

/**
 * Writes bytes or text atomically: a temporary file in the same folder, then a rename.
 *
 * @param path target file
 * @param data contents
 * @example
 * ```ts ignore
 * import { writeAtomic } from "@mpm/webgpu/io";
 * await writeAtomic("run/config.json", JSON.stringify({ steps: 10 }));
 * ```
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Writes a value as indented JSON, atomically.
 *
 * @param path target file
 * @param value any JSON-serialisable value
 * @example
 * ```ts ignore
 * import { writeJsonAtomic } from "@mpm/webgpu/io";
 * await writeJsonAtomic("out/metrics.json", { accuracy: 0.9 });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Whether a path exists (file or folder).
 *
 * @param path the path
 * @returns true when `Deno.stat` finds it
 * @example
 * ```ts
 * import { exists } from "@mpm/webgpu/io";
 * console.assert(!(await exists("/definitely/not/here")));
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Makes `dest` name the file at `src` atomically: a hard link (no copy, same content), or a copy
 * where the file system has no links.
 *
 * @param src existing file
 * @param dest path to (re)point
 * @example
 * ```ts ignore
 * import { linkAtomic } from "@mpm/webgpu/io";
 * await linkAtomic("run/checkpoints/step-000000100/model.safetensors", "run/model.safetensors");
 * ```
 */
export async function linkAtomic(src: string, dest: string): Promise<void> {
  const tmp = tempPathFor(dest);
  try {
    await Deno.link(src, tmp);
    await Deno.rename(tmp, dest);
  } catch {
    await Deno.remove(tmp).catch(() => {});
    await writeAtomic(dest, await Deno.readFile(src));
  }
}

/**
 * Moves a fully written folder into place (replacing an earlier folder of that name): readers see
 * the old folder or the complete new one.
 *
 * @param tmp the written folder
 * @param dest its final name
 * @example
 * ```ts ignore
 * import { publishDir } from "@mpm/webgpu/io";
 * await publishDir("run/checkpoints/.step-100.tmp-42", "run/checkpoints/step-100");
 * ```
 */
export async function publishDir(tmp: string, dest: string): Promise<void> {
  await Deno.remove(dest, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, dest);
}

let faultAt: number | null | undefined;
let faultCount = 0;

/**
 * A fault-injection point for crash tests: when the environment variable `MPM_FAULT_AT` is `N`,
 * the process kills itself with SIGKILL at the N-th call (counting every call in the process),
 * as a power cut or `kill -9` would. Writers of multi-file state (checkpoints) call it after each
 * file they create or rename; without the variable it does nothing.
 *
 * @param label what was just written (printed to stderr before the kill)
 * @example
 * ```ts
 * import { faultPoint } from "@mpm/webgpu/io";
 * faultPoint("checkpoint model.safetensors written"); // a no-op unless MPM_FAULT_AT is set
 * ```
 */
export function faultPoint(label: string): void {
  if (faultAt === undefined) {
    let v: string | undefined;
    try {
      v = Deno.env.get("MPM_FAULT_AT");
    } catch { /* no env permission: no faults */ }
    faultAt = v && Number(v) > 0 ? Number(v) : null;
  }
  if (faultAt === null) return;
  if (++faultCount === faultAt) {
    console.error(`MPM_FAULT_AT=${faultAt}: killing the process after "${label}"`);
    Deno.kill(Deno.pid, "SIGKILL");
  }
}
