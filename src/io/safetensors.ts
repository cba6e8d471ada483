/**
 * safetensors files (the Hugging Face format): an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`, then raw little-endian
 * data. Readable by PyTorch (`safetensors.torch.load_file`) and other tools.
 *
 * @module
 */

/** A named f32 tensor. */
export interface NamedTensor {
  /** Shape. */
  shape: readonly number[];
  /** Values (row-major). */
  data: Float32Array;
}

/**
 * Serialises f32 tensors (sorted by name) and string metadata.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "@mpm/webgpu/io";
 * const bytes = encodeSafetensors(new Map([["w", { shape: [2], data: new Float32Array([1, 2]) }]]), { step: "3" });
 * const back = decodeSafetensors(bytes);
 * console.assert(back.tensors.get("w")!.data[1] === 2 && back.metadata.step === "3");
 * ```
 */
export function encodeSafetensors(
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const n of names) {
    const t = tensors.get(n)!;
    const bytes = t.data.length * 4;
    header[n] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((json.length + 8) % 8)) % 8); // align data to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let pos = 8 + head.length;
  for (const n of names) {
    const d = tensors.get(n)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

/**
 * Parses a safetensors file (F32 tensors only).
 *
 * @example
 * ```ts ignore
 * const { tensors, metadata } = decodeSafetensors(await Deno.readFile("run/model.safetensors"));
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error("safetensors: file too short");
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) {
    throw new Error("safetensors: header runs past the end (truncated file)");
  }
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const base = 8 + n;
  const tensors = new Map<string, NamedTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [a, b] } = info as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    if (dtype !== "F32") {
      throw new Error(`safetensors: ${name} has dtype ${dtype}; only F32 is supported`);
    }
    if (base + b > bytes.length) {
      throw new Error(`safetensors: ${name} runs past the end (truncated file)`);
    }
    const copy = bytes.slice(base + a, base + b);
    tensors.set(name, { shape, data: new Float32Array(copy.buffer) });
  }
  return { tensors, metadata: header.__metadata__ ?? {} };
}
