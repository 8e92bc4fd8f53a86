#!/usr/bin/env python3
"""The PyTorch twin of `npm run bench:learn`: the same training, as the anchor.

bench/learn.ts prepares everything that defines the run (the images after the split and the subset,
the training mean, and the LR of every iteration from the schedule language) and writes it to --data;
this script builds the same network (Atienza's ResNet v2 bottleneck, as worker/model/resnet-v2.ts:
He-normal kernels, zero biases, BN momentum 0.99 in Keras terms = 0.01 here, eps 1e-3), trains it with
coupled AdamW (w <- w - lr*lambda*w before each Adam step, as Keras and torch.optim.AdamW do; eps 1e-7)
on the same per-iteration LRs, the same mean subtraction, random per-image shifts (whole pixels here,
sub-pixel in ours) and horizontal flips, and prints one JSON line per epoch. Run with Debian's python3-torch:
/usr/bin/python3 bench/learn_torch.py --data DIR --epochs 3 --depth 20 --batch 64 --threads 1
"""
import argparse, json, math, os, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def he_normal_(w, fan_in):
    # Keras he_normal: truncated normal (2 sd) with stddev sqrt(2 / fan_in) / .87962566
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    with torch.no_grad():
        nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


def conv(cin, cout, k, stride):
    c = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=True)
    he_normal_(c.weight, k * k * cin)
    nn.init.zeros_(c.bias)
    return c


def bn(c):
    return nn.BatchNorm2d(c, momentum=0.01, eps=1e-3)


class Unit(nn.Module):
    def __init__(self, cin, f_in, f_out, stride, pre, shortcut):
        super().__init__()
        self.pre = bn(cin) if pre else None
        self.conv1, self.bn2 = conv(cin, f_in, 1, stride), bn(f_in)
        self.conv2, self.bn3 = conv(f_in, f_in, 3, 1), bn(f_in)
        self.conv3 = conv(f_in, f_out, 1, 1)
        self.shortcut = conv(cin, f_out, 1, stride) if shortcut else None

    def forward(self, x):
        y = F.relu(self.pre(x)) if self.pre is not None else x
        y = self.conv1(y)
        y = self.conv2(F.relu(self.bn2(y)))
        y = self.conv3(F.relu(self.bn3(y)))
        return y + (self.shortcut(x) if self.shortcut is not None else x)


class ResNetV2(nn.Module):
    def __init__(self, depth, channels=1, classes=10):
        super().__init__()
        n = (depth - 2) // 9
        self.stem, self.stem_bn = conv(channels, 16, 3, 1), bn(16)
        units, c, f_in = [], 16, 16
        for stage in range(3):
            f_out = 4 * f_in if stage == 0 else 2 * f_in
            for u in range(n):
                first = u == 0
                stride = 2 if first and stage > 0 else 1
                units.append(Unit(c, f_in, f_out, stride, pre=not (stage == 0 and first), shortcut=first))
                c = f_out
            f_in = f_out
        self.units = nn.Sequential(*units)
        self.head_bn = bn(c)
        self.dense = nn.Linear(c, classes)
        he_normal_(self.dense.weight, c)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.relu(self.head_bn(self.units(x)))
        return self.dense(x.mean(dim=(2, 3)))


def load(d, name, dtype):
    return np.fromfile(os.path.join(d, name), dtype=dtype)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lam", type=float, default=0.15)
    p.add_argument("--shift", type=float, default=0.07)
    p.add_argument("--flip", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    S, C = meta["imageSize"], meta["channels"]
    def images(name, n):
        x = load(a.data, name, np.uint8).reshape(n, S, S, C).astype(np.float32) / 255.0
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    mean = torch.from_numpy(load(a.data, "mean.f32", np.float32).reshape(S, S, C)).permute(2, 0, 1)
    xt = images("train_x.u8", meta["train"]) - mean
    yt = torch.from_numpy(load(a.data, "train_y.u8", np.uint8).astype(np.int64))
    xv = images("val_x.u8", meta["validation"]) - mean
    yv = torch.from_numpy(load(a.data, "val_y.u8", np.uint8).astype(np.int64))
    lrs = load(a.data, "lr.f32", np.float32)
    model = ResNetV2(a.depth, C)
    opt = torch.optim.AdamW(model.parameters(), lr=float(lrs[0]), betas=(0.9, 0.999), eps=1e-7, weight_decay=a.lam)
    steps = math.ceil(len(yt) / a.batch)
    max_shift = int(round(a.shift * S))
    it = 0
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(len(yt)))
        loss_sum = correct = seen = 0
        for s in range(steps):
            idx = order[s * a.batch:(s + 1) * a.batch]
            x, y = xt[idx], yt[idx]
            if max_shift > 0 or a.flip:
                # Per image, as ours: a shift of whole pixels (zero fill after the mean) and a flip.
                padded = F.pad(x, (max_shift,) * 4)
                shifts = rng.integers(0, 2 * max_shift + 1, size=(len(y), 2))
                flips = rng.random(len(y)) < 0.5 if a.flip else np.zeros(len(y), bool)
                x = torch.stack([
                    (lambda im: torch.flip(im, dims=(2,)) if f else im)(padded[k, :, dy:dy + S, dx:dx + S])
                    for k, ((dy, dx), f) in enumerate(zip(shifts, flips))
                ])
            for g in opt.param_groups:
                g["lr"] = float(lrs[min(it, len(lrs) - 1)])
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
            loss_sum += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        model.eval()
        vl = vc = 0
        with torch.no_grad():
            for s in range(0, len(yv), 256):
                out = model(xv[s:s + 256])
                vl += F.cross_entropy(out, yv[s:s + 256], reduction="sum").item()
                vc += (out.argmax(1) == yv[s:s + 256]).sum().item()
        print(json.dumps({"epoch": epoch, "loss": loss_sum / seen, "acc": correct / seen, "valLoss": vl / len(yv),
                          "valAcc": vc / len(yv), "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
