import { test } from "node:test";
import assert from "node:assert/strict";
import { readTar, TarFormatError, writeTar, type TarEntry } from "./tar.ts";

async function* chunks(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(bytes: Uint8Array, chunkSize: number) {
  const files: { entry: TarEntry; data: number[] }[] = [];
  await readTar(chunks(bytes, chunkSize), (entry) => {
    const rec = { entry, data: [] as number[] };
    files.push(rec);
    return { write: (c) => void rec.data.push(...c), end: () => {} };
  });
  return files;
}

test("readTar() returns every entry's bytes whatever the chunking", async () => {
  const a = Uint8Array.from({ length: 1300 }, (_, i) => i & 255);
  const tar = writeTar([{ name: "d", directory: true }, { name: "d/a.bin", data: a }, { name: "d/empty" }, { name: "b", data: new Uint8Array([7]) }]);
  for (const size of [1, 7, 512, 100000]) {
    const files = await collect(tar, size);
    assert.deepEqual(files.map((f) => [f.entry.name, f.entry.type, f.entry.size]), [
      ["d", "directory", 0], ["d/a.bin", "file", 1300], ["d/empty", "file", 0], ["b", "file", 1],
    ]);
    assert.deepEqual(files[1]!.data, Array.from(a));
    assert.deepEqual(files[3]!.data, [7]);
  }
});

test("readTar() rejects a truncated archive, a bad checksum and paths outside the target", async () => {
  const tar = writeTar([{ name: "a.bin", data: new Uint8Array(1000) }]);
  await assert.rejects(collect(tar.subarray(0, 700), 64), /ends inside entry "a\.bin"/);
  const bad = tar.slice();
  bad[10] = 65;
  await assert.rejects(collect(bad, 512), TarFormatError);
  await assert.rejects(collect(writeTar([{ name: "../evil", data: new Uint8Array(1) }]), 512), /outside the target/);
});
