/**
 * Test fixture: every run row (1..34) of the seed's three tables (`seed/adamw-resnet56v2-part-v.txt`,
 * "AdamW for a ResNet56v2 – V"), with the "LR reduction phases/model" column copied exactly as the seed
 * writes it, and the row's λ and α. All rows use batch size 64, shift 0.07 and l2 0.
 *
 * @example
 * ```ts
 * for (const row of SEED_SCHEDULES) parseSchedule(row.schedule); // all 34 are valid
 * ```
 */
export interface SeedScheduleRow {
  /** The seed's run number (`#` column). */
  readonly run: number;
  /** Which of the seed's tables (1: 50–60 epochs, 2: 30–40, 3: 20–35). */
  readonly table: 1 | 2 | 3;
  /** The `λ` column (Keras AdamW `weight_decay`). */
  readonly lambda: number;
  /** The `α` column (initial / peak LR), as the seed writes it. */
  readonly alpha: string;
  /** The schedule, exactly as the seed writes it. */
  readonly schedule: string;
}

// deno-fmt-ignore -- one seed row per line, like the tables
export const SEED_SCHEDULES: readonly SeedScheduleRow[] = [
  { run: 1, table: 1, lambda: 0.094, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[0, 56]" },
  { run: 2, table: 1, lambda: 0.100, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[0, 52]" },
  { run: 3, table: 1, lambda: 0.100, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 50]lin[2.e-6, 60]" },
  { run: 4, table: 1, lambda: 0.140, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 50]lin[5.e-6, 60]" },
  { run: 5, table: 1, lambda: 0.200, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 50]lin[5.e-6, 60]" },
  { run: 6, table: 2, lambda: 0.2, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 30]lin[5.e-6, 50]" },
  { run: 7, table: 2, lambda: 0.2, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 20]lin[5.e-6, 40]" },
  { run: 8, table: 2, lambda: 0.2, alpha: "2.e-3", schedule: "[2.e-3, 0]cos[1.e-5, 28]lin[5.e-6, 40]" },
  { run: 9, table: 2, lambda: 0.2, alpha: "8.e-4", schedule: "[8.e-4, 0]cos[1.e-5, 30]lin[5.e-6, 40]" },
  { run: 10, table: 2, lambda: 0.2, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 30]lin[8.e-6, 40]" },
  { run: 11, table: 2, lambda: 0.25, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 30]lin[8.e-6, 35]" },
  { run: 12, table: 2, lambda: 0.20, alpha: "1.e-3", schedule: "[1.e-3, 0]cos[1.e-5, 30]lin[6.e-6, 40]" },
  { run: 13, table: 2, lambda: 0.30, alpha: "8.e-4", schedule: "[8.e-4, 0]cos[1.e-5, 28]lin[6.e-6, 40]" },
  { run: 14, table: 3, lambda: 0.30, alpha: "8.e-4", schedule: "[8.e-4, 0]lin[8.e-4, 16]cos[1.e-5, 28]lin[2.e-6, 34]" },
  { run: 15, table: 3, lambda: 0.20, alpha: "1.e-3", schedule: "[1.e-3, 0]lin[1.e-3, 16]cos[1.e-5, 28]lin[6.e-6, 34]" },
  { run: 16, table: 3, lambda: 0.20, alpha: "1.e-3", schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]" },
  { run: 17, table: 3, lambda: 0.15, alpha: "1.e-3", schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]" },
  { run: 18, table: 3, lambda: 0.18, alpha: "1.e-3", schedule: "[1.e-3, 0]lin[1.e-3, 14]cos[1.e-5, 24]lin[6.e-6, 32]" },
  { run: 19, table: 3, lambda: 0.16, alpha: "1.2e-3", schedule: "[8.e-4, 0]lin[1.2e-3, 8]lin[1.2e-3, 14]cos[1.e-5, 24]lin[6.e-6, 34]" },
  { run: 20, table: 3, lambda: 0.18, alpha: "1.25e-3", schedule: "[1.e-3, 0]lin[1.25e-3, 6]lin[1.25e-3, 10]cos[1.e-5, 20]lin[6.e-6, 30]" },
  { run: 21, table: 3, lambda: 0.18, alpha: "1.20e-3", schedule: "[1.e-3, 0]lin[1.20e-3, 5]lin[1.20e-3, 10]cos[1.e-5, 19]lin[6.e-6, 26]" },
  { run: 22, table: 3, lambda: 0.50, alpha: "1.20e-3", schedule: "[1.e-3, 0]lin[1.20e-3, 5]lin[1.20e-3, 10]cos[1.e-5, 19]lin[6.e-6, 26]" },
  { run: 23, table: 3, lambda: 0.08, alpha: "1.20e-3", schedule: "[1.e-3, 0]lin[1.20e-3, 5]lin[1.20e-3, 10]cos[1.e-5, 19]lin[6.e-6, 26]" },
  { run: 24, table: 3, lambda: 0.10, alpha: "1.e-3", schedule: "[1.e-3, 0]lin[1.e-3, 10]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 25, table: 3, lambda: 0.15, alpha: "1.0e-3", schedule: "[1.e-3, 0]lin[1.e-3, 12]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 26, table: 3, lambda: 0.18, alpha: "8.e-3", schedule: "[1.e-3, 0]lin[8.e-3, 5]lin[8.e-3, 10]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 27, table: 3, lambda: 0.18, alpha: "5.e-3", schedule: "[1.e-3, 0]lin[5.e-3, 5]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 28, table: 3, lambda: 0.18, alpha: "5.e-3", schedule: "[5.e-3, 0]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 29, table: 3, lambda: 0.18, alpha: "2.e-3", schedule: "[2.e-3, 0]lin[2.e-3, 4]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 30, table: 3, lambda: 0.18, alpha: "2.e-3", schedule: "[2.e-3, 0]lin[2.e-3, 12]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 31, table: 3, lambda: 0.18, alpha: "1.e-3", schedule: "[1.e-3, 0]lin[1.e-3, 12]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 32, table: 3, lambda: 0.18, alpha: "1.e-3", schedule: "[8.e-4, 0]lin[1.e-3, 5]lin[1.e-3, 10]cos[1.e-5, 19]lin[6.e-6, 26]" },
  { run: 33, table: 3, lambda: 0.18, alpha: "1.e-3", schedule: "[8.e-4, 0]lin[1.e-3, 5]lin[1.e-3, 12]cos[1.e-5, 20]lin[6.e-6, 26]" },
  { run: 34, table: 3, lambda: 0.18, alpha: "1.e-3", schedule: "[8.e-4, 0]lin[1.e-3, 5]lin[1.e-3, 14]cos[1.e-5, 20]lin[6.e-6, 26]" },
];
