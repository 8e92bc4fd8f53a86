/**
 * parseRunSpec() for client input that may be hostile. parseRunSpec never throws for a bad spec by
 * contract, but a validator bug on an odd input (an object whose `toString` is not a function, say)
 * must still be the client's 422, not our 500; such a crash is reported as an issue on the whole spec.
 */
import type { Issue } from "../shared/issue.ts";
import { parseRunSpec } from "../shared/run-spec.ts";

export function validateSpec(input: unknown): ReturnType<typeof parseRunSpec> {
  try {
    return parseRunSpec(input);
  } catch (e) {
    const issue: Issue = {
      path: "",
      message: `the spec could not be validated (${e instanceof Error ? e.message : String(e)})`,
    };
    return { ok: false, issues: [issue] };
  }
}
