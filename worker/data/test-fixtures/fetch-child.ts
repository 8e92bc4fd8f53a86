// A process that loads Fashion-MNIST through the fetch-on-first-use path, as a worker does, and prints
// each data event as a JSON line: two of these on one folder show that a machine fetches once.
import { parseFashionMnistMd5 } from "../download-fashion-mnist.ts";
import { loadRawDataset } from "../load-dataset.ts";

const dir = process.env.FETCH_DIR!;
const raw = await loadRawDataset(
  { dataset: "fashion-mnist", validationSize: 10, stratified: true, seed: 1, shift: 0, flip: false },
  {
    cifar10Dir: dir,
    fashionMnistDir: dir,
    fashionMnistSystemDir: "",
    fashionMnistUrl: process.env.FETCH_URL,
    fashionMnistMd5: parseFashionMnistMd5(process.env.FETCH_MD5!),
  },
  (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
);
process.stdout.write(`${JSON.stringify({ done: raw.train.labels.length })}\n`);
