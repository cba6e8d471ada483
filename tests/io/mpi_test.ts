// MPI through FFI (src/io/mpi.ts) and data-parallel training (src/train/data_parallel.ts), run
// under `mpiexec` (MPICH; .ci/run installs Debian's mpich).
import { Mpi } from "../../src/io/mpi.ts";

const worker = new URL("./_mpi_worker.ts", import.meta.url).pathname;
const mpiexec = await new Deno.Command("mpiexec", { args: ["--version"], stdout: "null" })
  .output().then((r) => r.success, () => false);
const ignore = !mpiexec;
if (ignore) console.log("mpi tests skipped: mpiexec not found (apt-get install mpich)");

async function launch(ranks: number, ...args: string[]): Promise<void> {
  const r = await new Deno.Command("mpiexec", {
    args: ["-n", String(ranks), Deno.execPath(), "run", "-A", worker, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    throw new Error(`mpiexec -n ${ranks} failed:\n${new TextDecoder().decode(r.stderr)}`);
  }
}

Deno.test({
  name:
    "mpi: two ranks see their rank and size, sum f32 and f64 in place, broadcast and meet at a barrier",
  ignore,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    await launch(2, "collectives", `${tmp}/c`);
    for (const rank of [0, 1]) {
      const r = JSON.parse(await Deno.readTextFile(`${tmp}/c.${rank}.json`));
      if (r.rank !== rank || r.size !== 2 || !r.launched) throw new Error(JSON.stringify(r));
      if (r.f.join() !== "3,30" || Math.abs(r.d[0] - 0.3) > 1e-15 || r.b.join() !== "7,8,9") {
        throw new Error(`rank ${rank}: ${JSON.stringify(r)}`);
      }
    }
  },
});

Deno.test({
  name:
    "data parallel: 2 ranks x B/2 rows follow 1 rank x B rows (same losses and weights to 1e-6) from rank 0's initial weights, an allreduce overlapping the next step's recording changes no bit, and a weighted exchange gives the plain mean",
  ignore,
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    await launch(1, "train", "32", "8", `${tmp}/one.json`);
    await launch(2, "train", "32", "8", `${tmp}/two.json`);
    const one = JSON.parse(await Deno.readTextFile(`${tmp}/one.json`));
    const two = JSON.parse(await Deno.readTextFile(`${tmp}/two.json`));
    one.losses.forEach((l: number, i: number) => {
      if (Math.abs(l - two.losses[i]) > 1e-6 * Math.max(1, Math.abs(l))) {
        throw new Error(`step ${i}: loss ${l} (1 rank) vs ${two.losses[i]} (2 ranks)`);
      }
    });
    if (!(one.losses.at(-1) < one.losses[0])) throw new Error(`the loss falls: ${one.losses}`);
    for (const [k, v] of Object.entries(one.weights as Record<string, number[]>)) {
      const w = two.weights[k] as number[];
      const d = Math.max(...v.map((x, i) => Math.abs(x - w[i])));
      if (d > 1e-6) throw new Error(`${k}: weights differ by ${d}`);
    }
    // The first step's averaged gradients themselves (AdamW hardly sees a gradient's scale).
    const dg = Math.max(...one.grads0.map((x: number, i: number) => Math.abs(x - two.grads0[i])));
    if (!(Math.max(...one.grads0.map(Math.abs)) > 1e-3 && dg <= 1e-6)) {
      throw new Error(`averaged gradients differ by ${dg}`);
    }
    // One allreduce per step for the one trainable group, its whole gradient arena.
    if (two.stats.calls !== 8 || !(two.stats.bytes >= 8 * 4 * (16 * 8 + 16 + 4 * 16 + 4))) {
      throw new Error(`exchange: ${JSON.stringify(two.stats)}`);
    }
    // The host work handed to the exchange (the next batch, in the training loops) runs once
    // per step, with one rank as with two.
    if (one.hostWork !== 8 || two.hostWork !== 8) {
      throw new Error(`host work ran ${one.hostWork} / ${two.hostWork} times in 8 steps`);
    }
    // The allreduce left in flight while the optimiser step and the next step are recorded
    // (as the training loops do) gives the same bits, and submitting meanwhile is refused.
    await launch(2, "train", "32", "8", `${tmp}/deferred.json`, "deferred");
    const def = JSON.parse(await Deno.readTextFile(`${tmp}/deferred.json`));
    if (def.losses.join() !== two.losses.join()) {
      throw new Error(`deferred exchange: losses ${def.losses} vs ${two.losses}`);
    }
    for (const [k, v] of Object.entries(two.weights as Record<string, number[]>)) {
      if ((def.weights[k] as number[]).join() !== v.join()) throw new Error(`${k} differs`);
    }
    if (def.refused !== 8 || !(def.stats.reduceOverlapMs > 0) || two.refused !== 0) {
      throw new Error(`refused ${def.refused} submits, overlap ${def.stats.reduceOverlapMs} ms`);
    }
    // A weighted exchange (losses scaled by each rank's rows, the total rows as the divisor)
    // gives the plain mean's result, on 2 ranks and on 1 (where the gradients are divided on
    // the device).
    for (const ranks of [1, 2]) {
      await launch(ranks, "train", "32", "8", `${tmp}/weighted${ranks}.json`, "weighted");
      const w = JSON.parse(await Deno.readTextFile(`${tmp}/weighted${ranks}.json`));
      for (const [k, v] of Object.entries(one.weights as Record<string, number[]>)) {
        const d = Math.max(...v.map((x, i) => Math.abs(x - (w.weights[k] as number[])[i])));
        if (!(d <= 1e-6)) throw new Error(`weighted, ${ranks} rank(s): ${k} differs by ${d}`);
      }
      // (AdamW hardly sees a gradient's scale: compare the averaged gradients themselves.)
      const g = Math.max(...one.grads0.map((x: number, i: number) => Math.abs(x - w.grads0[i])));
      if (!(Math.max(...one.grads0.map(Math.abs)) > 1e-3 && g <= 1e-6)) {
        throw new Error(`weighted, ${ranks} rank(s): gradients differ by ${g}`);
      }
    }
  },
});

Deno.test("mpi: a missing library or FFI permission is named with the fix", () => {
  let msg = "";
  try {
    Mpi.init({ library: "libmpi-that-does-not-exist.so" });
  } catch (e) {
    msg = (e as Error).message;
  }
  // Under `deno test` without --allow-ffi the permission is what is missing.
  if (!/--allow-ffi|apt-get install mpich/.test(msg)) throw new Error(msg);
});

Deno.test({
  name:
    "finetune --distributed: 2 ranks x B/2 follow 1 rank x B (train and validation losses to 1e-5), write one run folder (rank 0's), leave no scratch folder, report the exchange, and refuse a batch that does not split",
  ignore,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "mpm-dp-" });
    const root = new URL("../../", import.meta.url).pathname;
    const { writeJetFile } = await import("../../src/data/hdf5.ts");
    const { synthJetClass } = await import("../../src/data/synth.ts");
    writeJetFile(`${tmp}/jets.h5`, synthJetClass(400, { seed: 5 }));
    const before = new Set(
      [...Deno.readDirSync(Deno.env.get("TMPDIR") ?? "/tmp")].map((e) => e.name),
    );
    const run = (batch: number, ranks = 2) =>
      new Deno.Command(ranks > 1 ? "mpiexec" : Deno.execPath(), {
        args: [
          ...(ranks > 1 ? ["-n", String(ranks), Deno.execPath()] : []),
          "run",
          "-A",
          `${root}tasks/finetune.ts`,
          "--task",
          "classify",
          "--backbone",
          "random",
          "--finetune",
          "--train",
          `${tmp}/jets.h5`,
          "--n-train",
          "160",
          "--steps",
          "6",
          "--batch",
          String(batch),
          "--val-every",
          "3",
          "--max-eval-jets",
          "40",
          ...(ranks > 1 ? ["--distributed", "--out", `${tmp}/ft`] : ["--out", `${tmp}/ft1`]),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const odd = await run(9);
    const msg = new TextDecoder().decode(odd.stderr);
    if (odd.success || !msg.includes("--batch 9 does not split over 2 ranks")) throw new Error(msg);
    const r = await run(8);
    if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
    const m = JSON.parse(await Deno.readTextFile(`${tmp}/ft/metrics.json`));
    if (m.steps !== 6 || !Number.isFinite(m.accuracy)) throw new Error(JSON.stringify(m));
    const after = [...Deno.readDirSync(Deno.env.get("TMPDIR") ?? "/tmp")].map((e) => e.name)
      .filter((n) => n.startsWith("mpm-rank") && !before.has(n));
    if (after.length) throw new Error(`scratch folders left: ${after}`);
    const out = new TextDecoder().decode(r.stdout);
    if ((out.match(/metrics \(/g) ?? []).length !== 1) throw new Error(`one rank reports:\n${out}`);
    if (!/gradient exchange over 2 ranks, per step: [\d.]+ MiB/.test(out)) {
      throw new Error(`no exchange summary:\n${out}`);
    }
    // 2 ranks x 4 jets follow 1 rank x 8 jets: the class-attention head's dropout is seeded per
    // jet, each rank validates half of every batch, and the logged losses are means over the
    // ranks, so only the order of sums differs (stated tolerance 1e-5 relative).
    const one = await run(8, 1);
    if (!one.success) throw new Error(new TextDecoder().decode(one.stderr));
    const curve = async (dir: string) =>
      (await Deno.readTextFile(`${tmp}/${dir}/train.csv`)).trim().split("\n").slice(1)
        .map((l) => l.split(",").map(Number));
    const [c1, c2] = [await curve("ft1"), await curve("ft")];
    if (c1.length !== 2 || c2.length !== 2) throw new Error(`rows ${c1.length}, ${c2.length}`);
    c1.forEach((row, i) =>
      row.forEach((v, j) => {
        if (Math.abs(v - c2[i][j]) > 1e-5 * Math.abs(v)) {
          throw new Error(`train.csv row ${i} column ${j}: ${v} (1 rank) vs ${c2[i][j]} (2 ranks)`);
        }
      })
    );
  },
});

Deno.test({
  name:
    "pretrain --distributed: 2 ranks x B/2 follow 1 rank x B (every logged loss to 2e-5: gradients weighted by dropped particles), as does a 2-rank run resumed on 1 rank, and a 2-rank run stopped, or killed after a mid-run checkpoint, and resumed equals the uninterrupted one; a NaN loss stops every rank and leaves no scratch folder",
  ignore,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "mpm-dpp-" });
    const before = new Set(
      [...Deno.readDirSync(Deno.env.get("TMPDIR") ?? "/tmp")].map((e) => e.name),
    );
    const root = new URL("../../", import.meta.url).pathname;
    const { writeJetFile } = await import("../../src/data/hdf5.ts");
    const { synthJetClass } = await import("../../src/data/synth.ts");
    writeJetFile(`${tmp}/jets.h5`, synthJetClass(600, { seed: 6 }));
    const pretrain = async (ranks: number, ...args: string[]) => {
      const cmd = [Deno.execPath(), "run", "-A", `${root}tasks/pretrain.ts`, ...args];
      const r = await new Deno.Command(ranks ? "mpiexec" : cmd[0], {
        args: ranks ? ["-n", String(ranks), ...cmd, "--distributed"] : cmd.slice(1),
        cwd: tmp,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
    };
    // The default tasks (id, reg) and the probe, whose group is averaged unweighted.
    const common = ["--data", "jets.h5", "--batch", "16"];
    await pretrain(0, ...common, "--steps", "12", "--out", "one");
    await pretrain(2, ...common, "--steps", "12", "--out", "two");
    await pretrain(2, ...common, "--steps", "6", "--out", "resumed");
    await pretrain(2, "--resume", "resumed", "--steps", "12");
    const rows = async (dir: string, split: string) =>
      (await Deno.readTextFile(`${tmp}/${dir}/metrics.csv`)).trim().split("\n").slice(1)
        .map((l) => l.split(",")).filter((c) => c[1] === split);
    const [one, two] = [await rows("one", "train"), await rows("two", "train")];
    if (one.length !== 12 || two.length !== 12) throw new Error("12 logged steps each");
    // Every loss column (total, id, reg, probe where it ran) of every train and validation row,
    // to 2e-5 relative: the CSV's 6 digits and the order of sums are all that differ.
    const close = async (dir: string, ref: string) => {
      // The train rows and the last validation (a run stopped at step 6 also validated there).
      const [a, b] = [
        [...await rows(dir, "train"), (await rows(dir, "val")).at(-1)!],
        [...await rows(ref, "train"), (await rows(ref, "val")).at(-1)!],
      ];
      if (a.length !== b.length) throw new Error(`${dir}: ${a.length} rows vs ${b.length}`);
      a.forEach((r, i) => {
        for (let c = 3; c <= 7; c++) {
          if (r[c] === "" && b[i][c] === "") continue;
          const x = Number(r[c]), y = Number(b[i][c]);
          if (!(Math.abs(x - y) <= 2e-5 * Math.abs(x))) {
            throw new Error(`${dir} vs ${ref}: ${r[1]} step ${r[0]} column ${c}: ${x} vs ${y}`);
          }
        }
      });
    };
    await close("one", "two");
    // A changed number of ranks on --resume (2 ranks to step 6, then 1 rank) changes only the
    // split of each batch, so only the order of sums: the same tolerance.
    await pretrain(2, ...common, "--steps", "6", "--out", "changed");
    await pretrain(0, "--resume", "changed", "--steps", "12");
    await close("changed", "two");
    if (!one.some((r) => r[6] !== "") || (await rows("one", "val")).length !== 1) {
      throw new Error("probe rows missing");
    }
    // Resume: the same train rows to the last digit (the rate column aside).
    const strip = (r: string[]) => r.slice(0, -1).join(",");
    const same = async (dir: string) => {
      const res = await rows(dir, "train");
      if (res.map(strip).join("\n") !== two.map(strip).join("\n")) {
        throw new Error(
          `${dir}: resumed 2-rank run differs:\n${res.map(strip).join("\n")}\nvs\n${
            two.map(strip).join("\n")
          }`,
        );
      }
    };
    await same("resumed");
    // Killed (SIGKILL on rank 0) right after a mid-run checkpoint at step 6, when the next
    // step's batch had already been loaded during the gradient exchange: the checkpoint records
    // the loader's position before that batch, so the resumed run still follows the
    // uninterrupted one.
    const cfg = JSON.parse(await Deno.readTextFile(`${tmp}/two/config.json`));
    cfg.train.checkpointEvery = 6;
    await Deno.writeTextFile(`${tmp}/cfg.json`, JSON.stringify(cfg));
    const cmd = [Deno.execPath(), "run", "-A", `${root}tasks/pretrain.ts`];
    const killed = await new Deno.Command("mpiexec", {
      args: [
        "-n",
        "2",
        ...cmd,
        "--config",
        "cfg.json",
        "--data",
        "jets.h5",
        "--out",
        "killed",
        "--distributed",
      ],
      env: { MPM_FAULT_AT: "10" }, // the last file of the step-6 checkpoint
      cwd: tmp,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(killed.stderr);
    if (killed.success || !err.includes("MPM_FAULT_AT=10")) throw new Error(`not killed: ${err}`);
    await pretrain(2, "--resume", "killed");
    await same("killed");
    // A loss that becomes NaN stops every rank (none waits for the others forever); rank 1's
    // message names its rank and the run folder, and its scratch folder is gone. (The killed
    // run's rank 1 could not clean up; its resume reused and removed that scratch folder.)
    const nan = { ...cfg, train: { ...cfg.train, lr: 1e12, clip: 0, steps: 30 } };
    delete nan.data;
    await Deno.writeTextFile(`${tmp}/nan.json`, JSON.stringify(nan));
    const diverged = await new Deno.Command("mpiexec", {
      args: [
        ...["-n", "2", ...cmd, "--config", "nan.json", "--data", "jets.h5", "--out", "nan"],
        "--distributed",
      ],
      cwd: tmp,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const nerr = new TextDecoder().decode(diverged.stderr);
    if (
      diverged.success ||
      !/rank 1: loss "total" became NaN at step \d+; the last good checkpoint is nan /.test(nerr)
    ) {
      throw new Error(`a NaN run: ${nerr}`);
    }
    const left = [...Deno.readDirSync(Deno.env.get("TMPDIR") ?? "/tmp")].map((e) => e.name)
      .filter((n) => n.startsWith("mpm-rank") && !before.has(n));
    if (left.length) throw new Error(`scratch folders left: ${left}`);
  },
});

Deno.test({
  name:
    "finetune --distributed --task trackid and vertex: 2 ranks x B/2 follow 1 rank x B to 1e-5 (losses are means over tracks and pairs: each rank's gradients weighted by its count)",
  ignore,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "mpm-dpt-" });
    const root = new URL("../../", import.meta.url).pathname;
    const { writeJetFile } = await import("../../src/data/hdf5.ts");
    const { synthBTag } = await import("../../src/data/synth.ts");
    writeJetFile(`${tmp}/bt.h5`, synthBTag(300, { seed: 5 }));
    for (const task of ["trackid", "vertex"]) {
      const curves: number[][][] = [];
      for (const ranks of [1, 2]) {
        const out = `${tmp}/${task}-${ranks}`;
        const args = [
          "run",
          "-A",
          `${root}tasks/finetune.ts`,
          ...["--task", task, "--backbone", "random", "--finetune", "--train", `${tmp}/bt.h5`],
          ...["--n-train", "120", "--steps", "4", "--batch", "8", "--val-every", "2"],
          ...["--max-eval-jets", "30", "--out", out],
        ];
        const r = await new Deno.Command(ranks > 1 ? "mpiexec" : Deno.execPath(), {
          args: ranks > 1 ? ["-n", "2", Deno.execPath(), ...args, "--distributed"] : args,
          stdout: "piped",
          stderr: "piped",
        }).output();
        if (!r.success) throw new Error(`${task}: ${new TextDecoder().decode(r.stderr)}`);
        curves.push(
          (await Deno.readTextFile(`${out}/train.csv`)).trim().split("\n").slice(1)
            .map((l) => l.split(",").map(Number)),
        );
      }
      const [c1, c2] = curves;
      if (c1.length !== 2 || c2.length !== 2) throw new Error(`${task}: rows ${c1.length}`);
      c1.forEach((row, i) =>
        row.forEach((v, j) => {
          if (!(Math.abs(v - c2[i][j]) <= 1e-5 * Math.abs(v))) {
            throw new Error(`${task} train.csv row ${i} column ${j}: ${v} vs ${c2[i][j]}`);
          }
        })
      );
    }
  },
});
