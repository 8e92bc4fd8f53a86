import type { Config } from "../../shared/config.ts";
import type { Trainer } from "./trainer.ts";

/** Placeholder until the training engine's modules land: TRAINER=real is not available yet. */
export async function createRealTrainer(_config: Config, _log: (line: string) => void): Promise<Trainer> {
  throw new Error("TRAINER=real is not available yet; run with TRAINER=fake");
}
