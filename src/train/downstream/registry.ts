/**
 * The downstream tasks, by name: adding one is its own file (a {@linkcode DownstreamTask}) and
 * one line here.
 *
 * @module
 */
import { BTAG, CLASSIFY } from "./classify.ts";
import { CWOLA } from "./cwola.ts";
import type { DownstreamTask } from "./task.ts";
import { TRACKID } from "./trackid.ts";
import { VERTEX } from "./vertex.ts";

/** Every downstream task. */
export const DOWNSTREAM_TASKS: readonly DownstreamTask[] = [CLASSIFY, CWOLA, BTAG, VERTEX, TRACKID];

/**
 * A downstream task by name.
 *
 * @throws {Error} naming the tasks there are
 * @example
 * ```ts
 * import { downstreamTask } from "@mpm/webgpu/train";
 * console.assert(downstreamTask("vertex").metric === "ari");
 * ```
 */
export function downstreamTask(name: string): DownstreamTask {
  const t = DOWNSTREAM_TASKS.find((d) => d.name === name);
  if (!t) {
    throw new Error(
      `--task must be one of ${DOWNSTREAM_TASKS.map((d) => d.name).join(", ")}, got "${name}"`,
    );
  }
  return t;
}

/** Names accepted by `--task`. */
export function downstreamTaskNames(): string[] {
  return DOWNSTREAM_TASKS.map((d) => d.name);
}
