/**
 * Exported models on disk: `model.json` plus its shards in one folder (what `npm run export` writes and
 * `npm run predict --model` reads), the same files the API serves.
 *
 * @example
 * await writeModelFiles("out/", modelJson(stored, data.byteLength, figures), data);
 * const model = await tf.loadLayersModel(modelFolderHandler(tf, "out/model.json"));
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type * as tfjs from "@tensorflow/tfjs";
import { type ModelJson, modelJsonSchema, shardFiles } from "../../shared/model-artifact.ts";
import type { TF } from "../tf/tf-types.ts";

/** Writes model.json and the shards its manifest names into `dir` (created if missing). */
export async function writeModelFiles(dir: string, json: ModelJson, data: Uint8Array): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const shards = shardFiles(json.userDefinedMetadata.weights, data.byteLength);
  const written: string[] = [];
  for (const s of shards) {
    const file = path.join(dir, s.file);
    await writeFile(file, data.subarray(s.start, s.start + s.length));
    written.push(file);
  }
  const modelFile = path.join(dir, "model.json");
  await writeFile(modelFile, JSON.stringify(json));
  return [modelFile, ...written];
}

/**
 * A tf.io handler that reads a model.json and its shards from the local disk (the plain
 * @tensorflow/tfjs package has no file:// handler in Node; tfjs-node's is the same idea).
 */
export function modelFolderHandler(tf: TF, modelFile: string): tfjs.io.IOHandler {
  return {
    load: async () => {
      const text = await readFile(modelFile, "utf8");
      const parsed = modelJsonSchema.safeParse(JSON.parse(text));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new TypeError(`${modelFile} is not an exported model: ${issue.path.join(".") || "(file)"}: ${issue.message}`);
      }
      const json = parsed.data;
      const dir = path.dirname(modelFile);
      return tf.io.getModelArtifactsForJSON(json as unknown as tfjs.io.ModelJSON, async (manifest) => {
        const parts = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(path.join(dir, p))));
        const bytes = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
        let offset = 0;
        for (const p of parts) {
          bytes.set(p, offset);
          offset += p.byteLength;
        }
        return [manifest.flatMap((g) => g.weights), bytes.buffer];
      });
    },
  };
}
