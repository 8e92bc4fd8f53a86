// A stream subscriber as its own process, so a test can run it on another (namespace) host:
// `node --import tsx test/helpers/stream-subscriber-main.ts <ws url> <token>` prints every message as
// one JSON line, then `closed <code>` when the server closes the stream.
import WebSocket from "ws";

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error("usage: stream-subscriber-main.ts <ws url> <bearer token>");
  process.exit(2);
}
const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
socket.on("open", () => console.log("open"));
socket.on("message", (data) => console.log(String(data)));
socket.on("close", (code) => {
  console.log(`closed ${code}`);
  process.exit(0);
});
socket.on("error", (e) => {
  console.error(`error ${e.message}`);
  process.exit(1);
});
