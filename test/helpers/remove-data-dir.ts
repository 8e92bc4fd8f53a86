import { readlink, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Removes a test's DATA_DIR and, when `npm start` ran as root from a private folder (its cluster then
 * lives under /var/lib/resnet-jobs/clusters and DATA_DIR/postgres links to it), that cluster too.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  const target = await readlink(path.join(dataDir, "postgres")).catch(() => null);
  if (target !== null) {
    const cluster = path.resolve(dataDir, target);
    await rm(cluster, { recursive: true, force: true });
    await rm(`${cluster}.origin`, { force: true }); // the relocation's record (service/postgres-runtime.ts)
  }
  await rm(dataDir, { recursive: true, force: true });
}
