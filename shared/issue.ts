/**
 * One problem with an input, as every layer reports it (a run spec's validation, the API's error body's
 * `issues`, the dashboard's form): the dotted path of the field (`optimizer.lambda`, `tags.2`; `""` for
 * the whole value) and what was expected and found there.
 */
export interface Issue {
  path: string;
  message: string;
}

/**
 * Issues as one line of text, each as `path: message` (`(spec)` for the whole value), for errors and
 * logs that are not the API's structured `issues`.
 *
 * @example
 * ```ts
 * formatIssues([{ path: "optimizer.lambda", message: "must be ≥ 0" }]); // "optimizer.lambda: must be ≥ 0"
 * ```
 */
export function formatIssues(issues: readonly Issue[], separator = "; "): string {
  return issues.map((i) => `${i.path || "(spec)"}: ${i.message}`).join(separator);
}
