import type { ApiClient } from "./api-client.ts";

/** What every view receives: the API, navigation and a place to say things to the user. */
export interface AppContext {
  api: ApiClient;
  token: () => string;
  navigate: (hash: string) => void;
  notify: (message: string, kind?: "info" | "error") => void;
}

/** A mounted view; the function it returns unmounts it (closes sockets, destroys charts). */
export type View = (root: HTMLElement, ctx: AppContext, params: URLSearchParams, id: string | null) => () => void;
