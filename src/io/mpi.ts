/**
 * MPI through Deno's FFI: the few collectives data-parallel training needs (rank and size,
 * in-place allreduce of f32/f64 sums, broadcast, barrier) on a system MPICH (`libmpich.so.12`,
 * Debian's `mpich`). Nothing here loads unless {@linkcode Mpi.init} is called, which needs
 * `--allow-ffi`; a process not started by `mpiexec`/`srun` runs as a single rank (MPI's own
 * singleton mode) and says so in {@linkcode Mpi.launched}.
 *
 * MPICH's handles are integer constants (`MPI_COMM_WORLD` = 0x44000000, ...), which is what
 * makes it callable without a C shim; Open MPI's are addresses of global structs and are not
 * supported.
 *
 * @module
 */

/** MPICH's handle values (mpi.h of MPICH 3.x/4.x; ABI-stable since MPICH 3.1). */
const MPICH = {
  COMM_WORLD: 0x44000000,
  FLOAT: 0x4c00040a,
  DOUBLE: 0x4c00080b,
  BYTE: 0x4c00010d,
  SUM: 0x58000003,
} as const;

const SYMBOLS = {
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Query_thread: { parameters: ["buffer"], result: "i32" },
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalized: { parameters: ["buffer"], result: "i32" },
  MPI_Comm_rank: { parameters: ["i32", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["i32", "buffer"], result: "i32" },
  MPI_Allreduce: {
    parameters: ["pointer", "buffer", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  // The same function run on a thread of Deno's pool (the call returns a promise).
  MPI_Allreduce_async: {
    name: "MPI_Allreduce",
    parameters: ["pointer", "buffer", "i32", "i32", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  MPI_Bcast: { parameters: ["buffer", "i32", "i32", "i32", "i32"], result: "i32" },
  MPI_Barrier: { parameters: ["i32"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
} as const;

/**
 * Library names tried in order (MPICH's soname first). `MPI_LIBRARY` overrides them.
 *
 * @example
 * ```ts
 * import { MPI_LIBRARIES } from "@mpm/webgpu/io";
 * console.assert(MPI_LIBRARIES[0] === "libmpich.so.12");
 * ```
 */
export const MPI_LIBRARIES: readonly string[] = [
  "libmpich.so.12",
  "libmpi.so.12",
  "libmpich.so",
  "libmpi.so",
];

/** `MPI_THREAD_SERIALIZED`: MPI calls from any thread, one at a time (MPICH's value). */
const THREAD_SERIALIZED = 2;

/** Most elements passed to one MPI call (its `count` is a C int). */
const MAX_COUNT = 2 ** 30;

const WORLD = MPICH.COMM_WORLD;

/** `MPI_IN_PLACE`: the send buffer argument that makes a reduction work in place. */
const IN_PLACE = () => Deno.UnsafePointer.create(0xffffffffffffffffn);

/** The MPI datatype of f32 or f64 values. */
function mpiType(x: Float32Array | Float64Array): number {
  return x instanceof Float64Array ? MPICH.DOUBLE : MPICH.FLOAT;
}

/** `x` in consecutive pieces of at most {@linkcode MAX_COUNT} elements (views, no copies). */
function* pieces<T extends Float32Array | Float64Array | Uint8Array>(x: T): Generator<T> {
  for (let s = 0; s < x.length; s += MAX_COUNT) {
    yield x.subarray(s, Math.min(x.length, s + MAX_COUNT)) as T;
  }
}

/**
 * The launcher's rank and size from the environment (MPICH's Hydra, PMIx, Open MPI, Slurm), or
 * `undefined` outside a launcher. Needs no MPI library.
 *
 * @returns rank and size, or undefined
 * @example
 * ```ts
 * import { launcherEnvironment } from "@mpm/webgpu/io";
 * const env = launcherEnvironment(); // { rank: 0, size: 2 } under mpiexec -n 2
 * console.assert(env === undefined || env.rank < env.size);
 * ```
 */
export function launcherEnvironment(): { rank: number; size: number } | undefined {
  const get = (k: string) => {
    try {
      return Deno.env.get(k);
    } catch {
      return undefined;
    }
  };
  for (
    const [r, s] of [
      ["PMI_RANK", "PMI_SIZE"], // MPICH's Hydra
      ["PMIX_RANK", "PMIX_SIZE"],
      ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"],
      ["SLURM_PROCID", "SLURM_NTASKS"],
    ]
  ) {
    const rank = get(r), size = get(s);
    if (rank !== undefined && size !== undefined) return { rank: Number(rank), size: Number(size) };
  }
  return undefined;
}

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

/**
 * One MPI process: its rank in `MPI_COMM_WORLD`, the number of ranks, and the collectives.
 *
 * @example
 * ```ts ignore
 * // mpiexec -n 2 deno run --allow-ffi --allow-env sum.ts
 * const mpi = Mpi.init();
 * const x = new Float32Array([mpi.rank + 1]);
 * mpi.allreduceSum(x); // 3 on every rank
 * mpi.finalize();
 * ```
 */
export class Mpi {
  /** This process's rank (0-based). */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** The library that was opened. */
  readonly library: string;
  /** Whether a launcher (`mpiexec`, `srun`) started this process. */
  readonly launched: boolean;
  /**
   * Whether {@linkcode Mpi.allreduceSumAsync} runs on another thread: the library granted
   * `MPI_THREAD_SERIALIZED` (MPICH does); otherwise it blocks like `allreduceSum`.
   */
  readonly threaded: boolean;
  #lib: Lib;
  #done = false;
  #inFlight = false;

  private constructor(lib: Lib, library: string, launched: boolean) {
    this.#lib = lib;
    this.library = library;
    this.launched = launched;
    const v = new Int32Array(1);
    this.#check("MPI_Query_thread", lib.symbols.MPI_Query_thread(v));
    this.threaded = v[0] >= THREAD_SERIALIZED;
    this.#check("MPI_Comm_rank", lib.symbols.MPI_Comm_rank(WORLD, v));
    this.rank = v[0];
    this.#check("MPI_Comm_size", lib.symbols.MPI_Comm_size(WORLD, v));
    this.size = v[0];
  }

  /**
   * Opens the MPI library and initialises MPI (once per process).
   *
   * @param o `library`: a path or soname to open instead of {@linkcode MPI_LIBRARIES}
   * @returns the process's handle
   * @throws {Error} when FFI is not allowed, no MPI library is found (naming what was tried and
   *   the package to install), or MPI_Init_thread fails
   */
  static init(o: { library?: string } = {}): Mpi {
    let envLib: string | undefined;
    try {
      envLib = Deno.env.get("MPI_LIBRARY");
    } catch { /* no env permission: the default names */ }
    const names = o.library ? [o.library] : envLib ? [envLib] : MPI_LIBRARIES;
    const errors: string[] = [];
    for (const name of names) {
      let lib: Lib;
      try {
        lib = Deno.dlopen(name, SYMBOLS);
      } catch (e) {
        if (e instanceof Deno.errors.NotCapable || (e as Error).name === "NotCapable") {
          throw new Error("MPI needs FFI: run deno with --allow-ffi (and --allow-env)");
        }
        errors.push(`${name}: ${(e as Error).message.split("\n")[0]}`);
        continue;
      }
      const flag = new Int32Array(1);
      lib.symbols.MPI_Initialized(flag);
      if (!flag[0]) {
        // Serialized threading, so that an allreduce can run on a thread of Deno's pool while
        // the main thread records the next step (one MPI call at a time, enforced below).
        const rc = lib.symbols.MPI_Init_thread(null, null, THREAD_SERIALIZED, flag);
        if (rc !== 0) throw new Error(`MPI_Init_thread failed with code ${rc} (${name})`);
      }
      return new Mpi(lib, name, launcherEnvironment() !== undefined);
    }
    throw new Error(
      `no MPI library found (tried ${errors.join("; ")}); install MPICH ` +
        "(Debian/Ubuntu: apt-get install mpich) or set MPI_LIBRARY to its libmpich.so",
    );
  }

  #check(call: string, rc: number): void {
    if (rc !== 0) throw new Error(`${call} failed with MPI error code ${rc} on rank ${this.rank}`);
  }

  #alive(call: string): void {
    if (this.#done) throw new Error(`${call} after finalize`);
    if (this.#inFlight) {
      throw new Error(`${call} while an asynchronous allreduce is in flight; await it first`);
    }
  }

  /**
   * Sums `x` element-wise over all ranks, in place (every rank gets the sum).
   *
   * @param x f32 or f64 values, the same length on every rank
   */
  allreduceSum(x: Float32Array | Float64Array): void {
    this.#alive("allreduceSum");
    const type = mpiType(x);
    for (const part of pieces(x)) {
      this.#check(
        "MPI_Allreduce",
        this.#lib.symbols.MPI_Allreduce(IN_PLACE(), part, part.length, type, MPICH.SUM, WORLD),
      );
    }
  }

  /**
   * Like {@linkcode Mpi.allreduceSum}, but the reduction runs on a thread of Deno's pool while
   * this thread goes on (when {@linkcode Mpi.threaded}; otherwise it blocks and returns a settled
   * promise). Until the promise settles, `x` belongs to MPI (do not read or write it) and every
   * other call on this process throws: MPI is used from one thread at a time.
   *
   * @param x f32 or f64 values, the same length on every rank
   * @returns settles when every rank has the sum in `x`
   * @example
   * ```ts ignore
   * const done = mpi.allreduceSumAsync(grads);
   * recordNextStep(); // host work while the ranks exchange
   * await done;
   * ```
   */
  async allreduceSumAsync(x: Float32Array | Float64Array): Promise<void> {
    if (!this.threaded) return this.allreduceSum(x);
    this.#alive("allreduceSumAsync");
    const type = mpiType(x);
    this.#inFlight = true;
    try {
      for (const part of pieces(x)) {
        const rc = await this.#lib.symbols.MPI_Allreduce_async(
          IN_PLACE(),
          part,
          part.length,
          type,
          MPICH.SUM,
          WORLD,
        );
        this.#check("MPI_Allreduce", rc);
      }
    } finally {
      this.#inFlight = false;
    }
  }

  /**
   * Copies `x` from rank `root` to every rank, in place.
   *
   * @param x values (any typed array; broadcast as bytes), the same length on every rank
   * @param root the sending rank
   */
  broadcast(x: ArrayBufferView, root = 0): void {
    this.#alive("broadcast");
    for (const part of pieces(new Uint8Array(x.buffer, x.byteOffset, x.byteLength))) {
      this.#check(
        "MPI_Bcast",
        this.#lib.symbols.MPI_Bcast(part, part.length, MPICH.BYTE, root, WORLD),
      );
    }
  }

  /** Waits until every rank has called it. */
  barrier(): void {
    this.#alive("barrier");
    this.#check("MPI_Barrier", this.#lib.symbols.MPI_Barrier(WORLD));
  }

  /** Finalises MPI and closes the library (the last MPI call of the process). */
  finalize(): void {
    if (this.#done || this.#inFlight) return;
    this.#done = true;
    this.#lib.symbols.MPI_Finalize();
    this.#lib.close();
  }
}
