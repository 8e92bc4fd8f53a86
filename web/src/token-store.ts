// The bearer token the user pasted, kept in this browser only (localStorage), never in a URL.
const KEY = "resnet-jobs.token";

export function loadToken(): string {
  try {
    return localStorage.getItem(KEY) ?? "";
  } catch {
    return ""; // storage disabled: the token lives for this page only
  }
}

export function saveToken(token: string): void {
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    // storage disabled
  }
}
