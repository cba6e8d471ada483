/**
 * Typed errors raised by the GPU runtime.
 *
 * @module
 */

/**
 * No WebGPU adapter could be acquired.
 *
 * @example Recognising the error
 * ```ts
 * import { GpuUnavailableError } from "@mpm/webgpu/gpu";
 * const err = new GpuUnavailableError("no adapter");
 * console.assert(err.name === "GpuUnavailableError");
 * ```
 */
export class GpuUnavailableError extends Error {
  /** Creates the error with a message that explains how to get an adapter. */
  constructor(detail: string) {
    super(
      `No WebGPU adapter available (${detail}). Install a GPU driver with Vulkan support, or ` +
        "for a CPU-only machine install Mesa's software driver: `apt-get install mesa-vulkan-drivers` " +
        "(Debian/Ubuntu). Set XDG_RUNTIME_DIR if it is unset, and check `DENO_WEBGPU_BACKEND` " +
        "(vulkan, gl) if you forced a backend.",
    );
    this.name = "GpuUnavailableError";
  }
}

/**
 * The GPU device was lost (driver reset, out of memory, or `destroy()`).
 *
 * @example Recognising the error
 * ```ts
 * import { GpuDeviceLostError } from "@mpm/webgpu/gpu";
 * const err = new GpuDeviceLostError("destroyed", "device destroyed");
 * console.assert(err.reason === "destroyed");
 * ```
 */
export class GpuDeviceLostError extends Error {
  /** Why the device was lost, as reported by WebGPU. */
  readonly reason: string;
  /** Creates the error from a WebGPU device-lost reason and message. */
  constructor(reason: string, message: string) {
    super(
      `The GPU device was lost (${reason}: ${message}). Work since the last checkpoint is gone; ` +
        "restart the process (training resumes from its last checkpoint with --resume).",
    );
    this.name = "GpuDeviceLostError";
    this.reason = reason;
  }
}

/**
 * A WebGPU validation or out-of-memory error surfaced while running kernels.
 *
 * @example Recognising the error
 * ```ts
 * import { GpuValidationError } from "@mpm/webgpu/gpu";
 * console.assert(new GpuValidationError("bad bind group").name === "GpuValidationError");
 * ```
 */
export class GpuValidationError extends Error {
  /** Creates the error from the first uncaptured WebGPU error message. */
  constructor(message: string) {
    super(`WebGPU reported an error: ${message}`);
    this.name = "GpuValidationError";
  }
}

/**
 * A tensor had the wrong shape or dtype for an operation.
 *
 * @example Recognising the error
 * ```ts
 * import { ShapeError } from "@mpm/webgpu/gpu";
 * console.assert(new ShapeError("matmul: K mismatch").name === "ShapeError");
 * ```
 */
export class ShapeError extends Error {
  /** Creates the error; the message should name the op, the operand and both shapes. */
  constructor(message: string) {
    super(message);
    this.name = "ShapeError";
  }
}
