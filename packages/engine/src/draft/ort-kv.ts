// KV tensors of the ORT drafter: a KvBlob is the past of one token path as the ONNX model takes it (per
// layer a key and a value [kvHeads, length, headDim], batch row 1), shared by every trie node on that path
// up to its length (reference counted), plus the copies a run needs: a prefix slice (fork from an inner
// node), rows stacked into a batch, and a batched present split into per-row views. No onnxruntime here.

/** Shape of one layer's key (or value) per token path: [kvHeads, positions, headDim]. */
export interface KvShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/**
 * The K/V of the first `length` positions of one token path. data[2 * layer] is the key and
 * data[2 * layer + 1] the value of `layer`, each [kvHeads, length, headDim] (a view may sit inside a
 * bigger batched buffer). Immutable once made; nodes of the prefix trie point to it.
 */
export class KvBlob {
  readonly data: readonly Float32Array[];
  readonly length: number;
  /** Trie nodes whose state is this blob. */
  refs = 0;
  /** Tick of the last request that used it (LRU eviction). */
  usedTick = 0;

  constructor(data: readonly Float32Array[], length: number) {
    this.data = data;
    this.length = length;
  }

  get sizeBytes(): number {
    let n = 0;
    for (const a of this.data) n += a.byteLength;
    return n;
  }
}

/** Elements per position of one layer's key or value. */
export function positionSize(shape: KvShape): number {
  return shape.kvHeads * shape.headDim;
}

/** The first `length` positions of `blob` as fresh arrays ([kvHeads, length, headDim] each). */
export function sliceKv(blob: KvBlob, length: number, shape: KvShape): Float32Array[] {
  if (length === blob.length) return blob.data.slice();
  const { kvHeads, headDim } = shape;
  return blob.data.map((src) => {
    const out = new Float32Array(kvHeads * length * headDim);
    for (let h = 0; h < kvHeads; h++) {
      const from = h * blob.length * headDim;
      out.set(src.subarray(from, from + length * headDim), h * length * headDim);
    }
    return out;
  });
}

/**
 * The past of a batch: for each row the first `length` positions of its blob, stacked into arrays of
 * [rows, kvHeads, length, headDim]. One row whose blob has exactly `length` positions is passed as is.
 */
export function stackKv(
  rows: readonly (KvBlob | undefined)[],
  length: number,
  shape: KvShape,
): Float32Array[] {
  const count = 2 * shape.layers;
  if (length === 0) return Array.from({ length: count }, () => new Float32Array(0));
  const only = rows.length === 1 ? rows[0] : undefined;
  if (only?.length === length) return only.data.slice();
  const rowSize = positionSize(shape) * length;
  const out = Array.from({ length: count }, () => new Float32Array(rows.length * rowSize));
  rows.forEach((blob, r) => {
    if (blob === undefined || blob.length < length) {
      throw new RangeError(`row ${r} has ${blob?.length ?? 0} cached positions, ${length} needed`);
    }
    const parts = sliceKv(blob, length, shape);
    for (let i = 0; i < count; i++) out[i]?.set(parts[i] ?? new Float32Array(0), r * rowSize);
  });
  return out;
}

/** Per-row blobs of a batched present ([rows, kvHeads, length, headDim] per tensor), as views. */
export function splitPresent(
  present: readonly Float32Array[],
  rows: number,
  length: number,
  shape: KvShape,
): KvBlob[] {
  const rowSize = positionSize(shape) * length;
  for (const a of present) {
    if (a.length !== rows * rowSize) {
      throw new RangeError(`present has ${a.length} values, ${rows * rowSize} expected`);
    }
  }
  if (rows === 1) return [new KvBlob(present, length)];
  return Array.from(
    { length: rows },
    (_, r) =>
      new KvBlob(
        present.map((a) => a.subarray(r * rowSize, (r + 1) * rowSize)),
        length,
      ),
  );
}
