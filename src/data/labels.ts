/**
 * The label space of a data set, from every training file (never guessed from a prefix): the
 * number of classes is `--classes N`, else a `classes` attribute of the files, else the largest
 * label + 1; a negative label, or one outside the declared classes, is an error naming the file
 * and the row.
 *
 * @module
 */
import { DataError } from "./errors.ts";
import { JetFileReader } from "./hdf5.ts";

/** Labels of a set of files. */
export interface LabelSummary {
  /** Number of classes. */
  classes: number;
  /** Where the number came from. */
  source: "option" | "attribute" | "labels";
  /** Jets per class over all files. */
  counts: number[];
  /** Jets per class in each file. */
  perFile: Map<string, number[]>;
}

/** Largest number of classes inferred from labels alone before asking for `--classes`. */
export const MAX_INFERRED_CLASSES = 1000;

/**
 * Reads the `labels` of every file and checks them.
 *
 * @param files HDF5 jet files
 * @param o `classes`: the declared number (the `--classes` flag)
 * @returns the number of classes and the counts, or null when the files have no labels
 * @throws {DataError} for a negative label, a label outside the classes, disagreeing `classes`
 *   attributes, or a label range that looks like ids rather than classes
 * @example
 * ```ts ignore
 * import { labelSummary } from "@mpm/webgpu/data";
 * const s = labelSummary(["HToBB.h5", "ZJets.h5"]); // classes from both files
 * ```
 */
export function labelSummary(
  files: readonly string[],
  o: { classes?: number } = {},
): LabelSummary | null {
  const read: { file: string; labels: Int32Array; attr?: number }[] = [];
  for (const file of files) {
    const r = JetFileReader.open(file);
    try {
      const labels = r.readLabels();
      if (!labels) {
        if (read.length) {
          throw new DataError(
            { file, field: "labels" },
            "dataset missing while other files have labels",
            "give files of one kind",
          );
        }
        return null;
      }
      read.push({ file, labels, attr: r.info.classes });
    } finally {
      r.close();
    }
  }
  const attrs = [...new Set(read.map((r) => r.attr).filter((a) => a !== undefined))];
  if (attrs.length > 1 && o.classes === undefined) {
    throw new DataError(
      { file: read.find((r) => r.attr === attrs[1])!.file, field: "labels" },
      `declares ${attrs[1]} classes, ${read.find((r) => r.attr === attrs[0])!.file} declares ${
        attrs[0]
      }`,
      "pass --classes N",
    );
  }
  let max = -1;
  for (const { file, labels } of read) {
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] < 0) {
        throw new DataError(
          { file, field: "labels", row: j },
          `label ${labels[j]} is negative`,
          "labels are class indices 0, 1, ...; fix the file",
        );
      }
      if (labels[j] > max) max = labels[j];
    }
  }
  const declared = o.classes ?? attrs[0];
  const source = o.classes !== undefined
    ? "option"
    : attrs[0] !== undefined
    ? "attribute"
    : "labels";
  const classes = declared ?? max + 1;
  if (declared === undefined && classes > MAX_INFERRED_CLASSES) {
    const at = read.find((r) => r.labels.includes(max))!;
    throw new DataError(
      { file: at.file, field: "labels", row: at.labels.indexOf(max) },
      `label ${max} would make ${classes} classes`,
      "labels must be class indices; pass --classes N if that many classes is right",
    );
  }
  const counts = new Array(classes).fill(0), perFile = new Map<string, number[]>();
  for (const { file, labels } of read) {
    const c = new Array(classes).fill(0);
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] >= classes) {
        throw new DataError(
          { file, field: "labels", row: j },
          `label ${labels[j]} is outside the ${classes} classes (${
            source === "option" ? "--classes" : "the files' classes attribute"
          })`,
          "raise --classes, or fix the label",
        );
      }
      c[labels[j]]++;
      counts[labels[j]]++;
    }
    perFile.set(file, c);
  }
  return { classes, source, counts, perFile };
}

/**
 * The class names a jet file declares (`class_names` on `labels`), or undefined.
 *
 * @param file an HDF5 jet file
 * @returns the names by label
 * @example
 * ```ts ignore
 * import { classNamesOf } from "@mpm/webgpu/data";
 * classNamesOf("top_test.h5"); // ["QCD", "top"]
 * ```
 */
export function classNamesOf(file: string): readonly string[] | undefined {
  try {
    const r = JetFileReader.open(file);
    const names = r.info.classNames;
    r.close();
    return names;
  } catch {
    return undefined;
  }
}
