/**
 * The public datasets the library reads, by the name `deno task data convert --from` takes:
 * where to download them and how to open a file as a {@linkcode JetSource}.
 *
 * @module
 */
import { RootJetReader } from "../root.ts";
import { JETCLASS_LABELS } from "../types.ts";
import { BTagRootReader } from "./btag_root.ts";
import { JetNetReader } from "./jetnet.ts";
import { QuarkGluonReader } from "./qg.ts";
import type { JetSource } from "./source.ts";
import { TopTaggingReader } from "./toptag.ts";

/** Options every format's `open` accepts (each uses what applies). */
export interface OpenOptions {
  /** Particle slots kept (default: the format's). */
  nParticles?: number;
  /** ROOT tree name. */
  tree?: string;
  /** pandas frame key (Top Tagging). */
  key?: string;
  /** JetNet jet type when the file name does not say it. */
  jetType?: string;
  /** ROOT formats: reference branch name -> the file's branch name. */
  branchMap?: Readonly<Record<string, string>>;
}

/** One dataset format. */
export interface DatasetFormat {
  /** Name for `--from`. */
  name: string;
  /** What it is. */
  summary: string;
  /** File names as published. */
  files: string;
  /** Where to download it. */
  download: string;
  /** Opens one file. */
  open(path: string, o: OpenOptions): Promise<JetSource>;
}

/** The formats, in the order `--help` lists them. */
export const DATASET_FORMATS: readonly DatasetFormat[] = [
  {
    name: "jetclass-root",
    summary: "JetClass (Qu et al. 2022), one ROOT file per process; all 7 features and types",
    files: "HToBB_000.root, ZJetsToNuNu_000.root, ...",
    download: "https://zenodo.org/records/6619768",
    async open(path, o) {
      const r = await RootJetReader.open(path, {
        tree: o.tree,
        nParticles: o.nParticles,
        branchMap: o.branchMap,
      });
      return Object.assign(r, { classNames: JETCLASS_LABELS });
    },
  },
  {
    name: "toptag",
    summary: "Top Tagging Landscape (Kasieczka et al. 2019), pandas HDF5; kinematics only",
    files: "train.h5, val.h5, test.h5",
    download: "https://zenodo.org/records/2603256",
    open: (path, o) => Promise.resolve(TopTaggingReader.open(path, o)),
  },
  {
    name: "qg",
    summary: "quark-gluon jets (Komiske et al. 2019), energyflow .npz; kinematics and types",
    files: "QG_jets.npz, QG_jets_1.npz, ... (Pythia), QG_jets_herwig_*.npz (Herwig)",
    download: "https://zenodo.org/records/3164691 (Pythia), https://zenodo.org/records/3066475",
    open: (path, o) => QuarkGluonReader.open(path, o),
  },
  {
    name: "jetnet",
    summary: "JetNet (Kansal et al. 2021), HDF5 per jet type; the jet-generation benchmark",
    files: "g.hdf5, q.hdf5, t.hdf5, w.hdf5, z.hdf5 (30 particles), g150.hdf5, ... (150)",
    download: "https://zenodo.org/records/6975118 (30), https://zenodo.org/records/6975117 (150)",
    open: (path, o) => Promise.resolve(JetNetReader.open(path, o)),
  },
  {
    name: "btag-root",
    summary: "b-tagging / secondary vertices (Shlomi et al. 2021), ROOT; vertices, track origins",
    files:
      "training_data.root, valid_data.root, test_data.root (or train_*.root, validate.root, test.root)",
    download: "https://zenodo.org/records/4044628, https://zenodo.org/records/13350327",
    open: (path, o) =>
      BTagRootReader.open(path, { tree: o.tree, nTracks: o.nParticles, branchMap: o.branchMap }),
  },
];

/**
 * The format called `name`.
 *
 * @param name a `--from` value
 * @returns the format
 * @throws {RangeError} naming the known formats
 * @example
 * ```ts
 * import { datasetFormat } from "@mpm/webgpu/data";
 * console.assert(datasetFormat("toptag").files.includes("train.h5"));
 * ```
 */
export function datasetFormat(name: string): DatasetFormat {
  const f = DATASET_FORMATS.find((d) => d.name === name);
  if (!f) {
    throw new RangeError(
      `unknown dataset format "${name}" (known: ${DATASET_FORMATS.map((d) => d.name).join(", ")})`,
    );
  }
  return f;
}
