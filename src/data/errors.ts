/**
 * Typed errors for bad input data: each names the file, the field (dataset or branch), the
 * row when known, and the fix.
 *
 * @module
 */

/** Where in a file the problem is. */
export interface DataErrorLocation {
  /** File path. */
  file: string;
  /** Dataset, branch or attribute name. */
  field?: string;
  /** Jet (row) index. */
  row?: number;
}

/**
 * Bad or unreadable jet data.
 *
 * @example
 * ```ts
 * import { DataError } from "@mpm/webgpu/data";
 * const e = new DataError({ file: "a.h5", field: "csts", row: 3 }, "NaN in pt", "clean the file");
 * console.assert(e.message.includes("a.h5") && e.message.includes("row 3"));
 * ```
 */
export class DataError extends Error {
  /** Where the problem is. */
  readonly location: DataErrorLocation;

  /** Builds "file: field, row R: problem. Fix: ...". */
  constructor(location: DataErrorLocation, problem: string, fix: string) {
    const where = [
      location.field && `dataset "${location.field}"`,
      location.row !== undefined && `row ${location.row}`,
    ]
      .filter(Boolean).join(", ");
    super(`${location.file}${where ? ` (${where})` : ""}: ${problem}. Fix: ${fix}`);
    this.name = "DataError";
    this.location = location;
  }
}
