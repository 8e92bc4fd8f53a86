import assert from "node:assert/strict";
import { throughTransactionPooler, transactionPoolerOptions } from "./transaction-pooler.ts";

Deno.test("transactionPoolerOptions(): one statement at a time exactly when the URL says prepare=false", () => {
  assert.deepEqual(transactionPoolerOptions("postgres://u:p@pgbouncer:6432/jobs?prepare=false"), { max_pipeline: 0 });
  assert.deepEqual(transactionPoolerOptions("postgres://u:p@pgbouncer:6432/jobs?sslmode=require&prepare=disable"), { max_pipeline: 0 });
  assert.deepEqual(transactionPoolerOptions("postgres://u:p@db:5432/jobs"), {});
  assert.deepEqual(transactionPoolerOptions("postgres://u:p@db:5432/jobs?prepare=true"), {});
});

Deno.test("transactionPoolerOptions(): a max_pipeline in the URL wins; a string that is not a URL adds nothing", () => {
  assert.deepEqual(transactionPoolerOptions("postgres://u:p@pgbouncer:6432/jobs?prepare=false&max_pipeline=4"), {});
  assert.deepEqual(transactionPoolerOptions("not a url"), {});
  assert.equal(throughTransactionPooler("not a url"), false);
});
