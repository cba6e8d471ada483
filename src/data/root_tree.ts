/**
 * A ROOT TTree read with jsroot: opened with one clear error for a missing, corrupt or
 * tree-less file, and read in entry ranges into plain records (copied: jsroot reuses its
 * arrays between entries). The dataset readers (`root.ts`, `datasets/btag_root.ts`) build on it.
 *
 * @module
 */
import { openFile } from "jsroot/io";
import { treeProcess, TSelector } from "jsroot/tree";
import { DataError } from "./errors.ts";

/** One tree entry: branch name -> value (arrays for vector branches). */
export type RootEntry = Record<string, ArrayLike<number> | number | boolean | undefined>;

interface JsrootTree {
  fEntries: number;
  fBranches: { arr: { fName: string }[] };
}

/**
 * An opened TTree.
 *
 * @example
 * ```ts ignore
 * import { RootTree } from "@mpm/webgpu/data";
 * const t = await RootTree.open("events.root");
 * const entries = await t.read([["px", "part_px"]], 0, 100);
 * ```
 */
export class RootTree {
  /** File path. */
  readonly path: string;
  /** Tree name. */
  readonly name: string;
  /** Number of entries. */
  readonly n: number;
  /** Branch names present. */
  readonly branches: ReadonlySet<string>;
  #tree: JsrootTree;

  private constructor(path: string, name: string, tree: JsrootTree) {
    this.path = path;
    this.name = name;
    this.#tree = tree;
    this.n = tree.fEntries;
    this.branches = new Set(tree.fBranches.arr.map((b) => b.fName));
  }

  /**
   * Opens `tree` (default: `tree`, or the file's only TTree).
   *
   * @throws {DataError} for a missing or unreadable file or a missing tree
   */
  static async open(path: string, o: { tree?: string } = {}): Promise<RootTree> {
    try {
      Deno.statSync(path);
    } catch {
      throw new DataError({ file: path }, "file not found", "check the path");
    }
    // deno-lint-ignore no-explicit-any
    let file: any;
    try {
      file = await openFile(path);
    } catch (e) {
      throw new DataError(
        { file: path },
        `not a readable ROOT file (${(e as Error).message ?? e})`,
        "the file is corrupt or truncated; re-download it",
      );
    }
    const trees = (file.fKeys as { fName: string; fClassName: string }[]).filter((k) =>
      k.fClassName === "TTree"
    ).map((k) => k.fName);
    const name = o.tree ??
      (trees.includes("tree") ? "tree" : trees.length === 1 ? trees[0] : undefined);
    if (!name || !trees.includes(name)) {
      throw new DataError(
        { file: path, field: o.tree ?? "tree" },
        `TTree not found (file has [${trees}])`,
        "pass the tree name (--tree)",
      );
    }
    let tree: JsrootTree;
    try {
      tree = await file.readObject(name);
    } catch (e) {
      throw new DataError(
        { file: path, field: name },
        `cannot read the TTree (${(e as Error).message ?? e})`,
        "the file is corrupt or truncated",
      );
    }
    return new RootTree(path, name, tree);
  }

  /**
   * Entries [start, start + count) (clamped), each a record of the `branches` given as
   * (logical name, branch name) pairs.
   *
   * @throws {DataError} when reading fails
   */
  async read(
    branches: readonly (readonly [string, string])[],
    start: number,
    count: number,
  ): Promise<RootEntry[]> {
    const s = Math.max(0, Math.min(start, this.n)), num = Math.min(count, this.n - s);
    const entries: RootEntry[] = [];
    if (num <= 0) return entries;
    const sel = new TSelector();
    for (const actual of new Set(branches.map(([, a]) => a))) sel.addBranch(actual);
    sel.Process = function (this: { tgtobj: Record<string, unknown> }) {
      const e: RootEntry = {};
      for (const [logical, actual] of branches) {
        const v = this.tgtobj[actual];
        e[logical] = v !== null && typeof v === "object"
          ? Float64Array.from(v as ArrayLike<number>, Number)
          : v as number;
      }
      entries.push(e);
    };
    try {
      await treeProcess(this.#tree, sel, { firstentry: s, numentries: num });
    } catch (e) {
      throw new DataError(
        { file: this.path, row: s },
        `reading entries ${s}..${s + num} failed (${(e as Error).message ?? e})`,
        "the file is corrupt or truncated",
      );
    }
    return entries;
  }
}
