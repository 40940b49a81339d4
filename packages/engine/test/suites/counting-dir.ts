// Test doubles for model directories: a ModelDir wrapper that records every byte range read, and helpers
// to take a safetensors file apart and put it back together with a modified header. Test-only.

import type { ByteSource, ModelDir } from "../../src/loader/byte-source.ts";

export interface ReadRecord {
  file: string;
  offset: number;
  length: number;
}

export class CountingDir implements ModelDir {
  readonly location: string;
  readonly reads: ReadRecord[] = [];
  readonly #inner: ModelDir;

  constructor(inner: ModelDir) {
    this.#inner = inner;
    this.location = inner.location;
  }

  has(name: string, signal?: AbortSignal): Promise<boolean> {
    return this.#inner.has(name, signal);
  }

  readText(name: string, signal?: AbortSignal): Promise<string> {
    return this.#inner.readText(name, signal);
  }

  open(name: string): ByteSource {
    const src = this.#inner.open(name);
    return {
      location: src.location,
      size: (signal) => src.size(signal),
      read: (offset, length, signal) => {
        this.reads.push({ file: name, offset, length });
        return src.read(offset, length, signal);
      },
    };
  }

  bytesRead(file?: string): number {
    return this.reads
      .filter((r) => file === undefined || r.file === file)
      .reduce((a, r) => a + r.length, 0);
  }
}

export interface RawHeader {
  [name: string]:
    { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>;
}

/** Splits a safetensors file into its parsed header and its data section. */
export function splitSafetensors(bytes: Uint8Array): { header: RawHeader; data: Uint8Array } {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as RawHeader;
  return { header, data: bytes.subarray(8 + len) };
}

/** Builds a safetensors file from a header object (or raw header text) and a data section. */
export function joinSafetensors(header: RawHeader | string, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}
