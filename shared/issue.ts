/**
 * One problem with an input, as every layer reports it (a run spec's validation, the API's error body's
 * `issues`, the dashboard's form): the dotted path of the field (`optimizer.lambda`, `tags.2`; `""` for
 * the whole value) and what was expected and found there.
 */
export interface Issue {
  path: string;
  message: string;
}
