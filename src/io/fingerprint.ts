/**
 * Cheap content fingerprints of data files: the size, and a SHA-256 over the size and 16 blocks
 * of 4 KiB spread evenly through the file (the whole file when it is small). A changed,
 * truncated or replaced file gets another fingerprint without reading gigabytes.
 *
 * @module
 */

/** What a run records about one input file. */
export interface FileFingerprint {
  /** The absolute path (so a run resumes from any working folder). */
  path: string;
  /** Size in bytes. */
  bytes: number;
  /** Hex SHA-256 of the sampled content. */
  sha256: string;
}

const BLOCKS = 16, BLOCK = 4096;

/**
 * The fingerprint of a file.
 *
 * @param path the file
 * @returns its size and sampled-content hash
 * @throws {Error} naming the file when it cannot be read
 * @example
 * ```ts ignore
 * import { fingerprintFile } from "@mpm/webgpu/io";
 * const fp = await fingerprintFile("train.h5"); // { path, bytes, sha256 }
 * ```
 */
export async function fingerprintFile(path: string): Promise<FileFingerprint> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    throw new Error(`${path}: cannot be read (${(e as Error).message})`);
  }
  try {
    const bytes = (await f.stat()).size;
    const parts: Uint8Array[] = [new TextEncoder().encode(`${bytes}:`)];
    const offsets = bytes <= BLOCKS * BLOCK
      ? [0]
      : Array.from({ length: BLOCKS }, (_, i) => Math.floor((i * (bytes - BLOCK)) / (BLOCKS - 1)));
    for (const off of offsets) {
      const len = Math.min(bytes <= BLOCKS * BLOCK ? bytes : BLOCK, bytes - off);
      const buf = new Uint8Array(len);
      await f.seek(off, Deno.SeekMode.Start);
      let got = 0;
      while (got < len) {
        const n = await f.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      parts.push(buf.subarray(0, got));
    }
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) (all.set(p, o), o += p.length);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
    return {
      path,
      bytes,
      sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
    };
  } finally {
    f.close();
  }
}

/**
 * Compares recorded fingerprints with the files now at those paths.
 *
 * @param recorded what a run recorded
 * @returns one line per file that is missing or differs (empty when all match)
 */
export async function changedFiles(recorded: readonly FileFingerprint[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of recorded) {
    let now: FileFingerprint;
    try {
      now = await fingerprintFile(r.path);
    } catch {
      out.push(`${r.path} is missing`);
      continue;
    }
    if (now.bytes !== r.bytes || now.sha256 !== r.sha256) {
      out.push(
        `${r.path} changed (${r.bytes} bytes, sha256 ${
          r.sha256.slice(0, 12)
        }... when the run started; now ${now.bytes} bytes, ${now.sha256.slice(0, 12)}...)`,
      );
    }
  }
  return out;
}

/**
 * Fingerprints of files grouped by role (a run's `train`, `val`, `test` inputs); roles without
 * files are left out.
 *
 * @param roles files by role
 * @returns fingerprints by role
 * @example
 * ```ts ignore
 * import { fingerprintRoles } from "@mpm/webgpu/io";
 * const inputs = await fingerprintRoles({ train: ["jets.h5"], val: undefined });
 * // { train: [{ path: "jets.h5", bytes, sha256 }] }
 * ```
 */
export async function fingerprintRoles(
  roles: Record<string, readonly string[] | undefined>,
): Promise<Record<string, FileFingerprint[]>> {
  const out: Record<string, FileFingerprint[]> = {};
  for (const [role, files] of Object.entries(roles)) {
    if (files) out[role] = await Promise.all(files.map((f) => fingerprintFile(f)));
  }
  return out;
}
