"""PyTorch (CPU) twin of the kit's default denoiser, for bench/parity.ts.

The UNet of src/models/diffusion/unet.ts, layer for layer (NCHW here, NHWC
there): patchify, conv_in, per level a ResBlock (+ transformer) with a skip and
a stride-2 conv, a ResBlock/transformer/ResBlock bottleneck, the up path with
concatenated skips, nearest x2 upsampling + conv, GroupNorm/SiLU/conv_out,
unpatchify. The transformer is pre-LN self-attention, cross-attention to the
prompt tokens (padding masked), MLP x4.

Reads the config JSON on argv[1] ({"unet": {...}, "contextDim", "tokens",
"batch", "threads", "budget_s"}) and prints one JSON line: parameter count and
median ms of (a) one training step (v-prediction MSE loss, backward, Adam) and
(b) one guided sampling step (the UNet on the doubled batch [cond; uncond]
under no_grad, then the guidance combination).
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):  # x [B,C,H,W], temb [B,tdim]
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, dim, cdim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(cdim, dim, bias=False)
        self.v = nn.Linear(cdim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, ctx, mask=None):  # x [B,N,D], ctx [B,T,Dc], mask [B,T]
        b, n, d = x.shape
        t = ctx.shape[1]
        hs = d // self.heads
        q = self.q(x).view(b, n, self.heads, hs).transpose(1, 2)  # (B, nh, N, hs)
        k = self.k(ctx).view(b, t, self.heads, hs).transpose(1, 2)
        v = self.v(ctx).view(b, t, self.heads, hs).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(hs)  # (B, nh, N, T)
        if mask is not None:
            s = s + ((1 - mask) * -1e9)[:, None, None, :]
        y = s.softmax(-1) @ v
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class MLP(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.fc = nn.Linear(dim, mult * dim)
        self.proj = nn.Linear(mult * dim, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x):
        return self.proj(F.silu(self.fc(x)))


class SpatialTransformer(nn.Module):
    def __init__(self, c, cdim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(c)
        self.self_attn = Attention(c, c, heads)
        self.ln2 = nn.LayerNorm(c)
        self.cross_attn = Attention(c, cdim, heads)
        self.ln3 = nn.LayerNorm(c)
        self.mlp = MLP(c)

    def forward(self, x, ctx, mask):
        b, c, h, w = x.shape
        s = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        n1 = self.ln1(s)
        s = s + self.self_attn(n1, n1)
        s = s + self.cross_attn(self.ln2(s), ctx, mask)
        s = s + self.mlp(self.ln3(s))
        return s.transpose(1, 2).reshape(b, c, h, w)


def timestep_features(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None] * freqs[None]
    f = torch.cat([args.sin(), args.cos()], 1)
    return F.pad(f, (0, 1)) if dim % 2 else f


class Unet(nn.Module):
    def __init__(self, cfg, cdim):
        super().__init__()
        ch, groups, heads, td, p = cfg["channels"], cfg["groups"], cfg["heads"], cfg["timeEmbedDim"], cfg["patchSize"]
        self.cfg = cfg
        if cfg.get("pooledText"):
            raise SystemExit("parity_torch.py: the UNet's pooledText is not built here; bench the UNet without it")
        attn_at = lambda i: i in cfg["attentionLevels"]
        self.time_fc1 = nn.Linear(td, td)
        self.time_fc2 = nn.Linear(td, td)
        self.conv_in = nn.Conv2d(3 * p * p, ch[0], 3, padding=1)
        self.down_res, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c = ch[0]
        for i, out in enumerate(ch):
            self.down_res.append(ResBlock(c, out, td, groups))
            self.down_attn.append(SpatialTransformer(out, cdim, heads) if attn_at(i) else nn.Identity())
            c = out
            if i < len(ch) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid1 = ResBlock(c, c, td, groups)
        self.mid_attn = SpatialTransformer(c, cdim, heads)
        self.mid2 = ResBlock(c, c, td, groups)
        up_res, up_attn, upsample = [None] * len(ch), [None] * len(ch), [nn.Identity()] * len(ch)
        for i in range(len(ch) - 1, -1, -1):
            up_res[i] = ResBlock(c + ch[i], ch[i], td, groups)
            up_attn[i] = SpatialTransformer(ch[i], cdim, heads) if attn_at(i) else nn.Identity()
            c = ch[i]
            if i > 0:
                upsample[i] = nn.Conv2d(c, ch[i - 1], 3, padding=1)
                c = ch[i - 1]
        self.up_res, self.up_attn, self.upsample = nn.ModuleList(up_res), nn.ModuleList(up_attn), nn.ModuleList(upsample)
        self.attn_at = [attn_at(i) for i in range(len(ch))]
        self.norm_out = nn.GroupNorm(groups, c, eps=1e-5)
        self.conv_out = nn.Conv2d(c, 3 * p * p, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t, ctx, mask):  # x [B,3,32,32], t [B], ctx [B,T,Dc], mask [B,T]
        p = self.cfg["patchSize"]
        temb = self.time_fc2(F.silu(self.time_fc1(timestep_features(t, self.cfg["timeEmbedDim"]))))
        h = self.conv_in(F.pixel_unshuffle(x, p) if p > 1 else x)
        skips = []
        n = len(self.down_res)
        for i in range(n):
            h = self.down_res[i](h, temb)
            if self.attn_at[i]:
                h = self.down_attn[i](h, ctx, mask)
            skips.append(h)
            if i < n - 1:
                h = self.downsample[i](h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb), ctx, mask), temb)
        for i in range(n - 1, -1, -1):
            h = self.up_res[i](torch.cat([h, skips[i]], 1), temb)
            if self.attn_at[i]:
                h = self.up_attn[i](h, ctx, mask)
            if i > 0:
                h = self.upsample[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        out = self.conv_out(F.silu(self.norm_out(h)))
        return F.pixel_shuffle(out, p) if p > 1 else out


def median_ms(fn, budget_s, min_runs=3, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    t0 = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - t0 < budget_s and len(times) < 50):
        s = time.perf_counter()
        fn()
        times.append((time.perf_counter() - s) * 1000)
    times.sort()
    return times[len(times) // 2], len(times)


def main():
    cfg = json.loads(open(sys.argv[1]).read())
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    B, T, cdim = cfg["batch"], cfg["tokens"], cfg["contextDim"]
    model = Unet(cfg["unet"], cdim)
    # Zero-initialised output layers make the first gradients trivially sparse; perturb every weight
    # so both sides time a generic step (the kit's bench does the same).
    with torch.no_grad():
        for prm in model.parameters():
            prm.add_(0.02 * torch.randn_like(prm))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x0 = torch.rand(B, 3, 32, 32) * 2 - 1
    ctx = torch.randn(B, T, cdim)
    mask = torch.ones(B, T)
    mask[:, T // 2:] = 0
    ab = torch.rand(B)  # alpha_bar_t of random timesteps

    def train_step():
        t = torch.randint(0, 1000, (B,)).float()
        eps = torch.randn_like(x0)
        a, s = ab.sqrt()[:, None, None, None], (1 - ab).sqrt()[:, None, None, None]
        xt = a * x0 + s * eps
        v = a * eps - s * x0
        loss = ((model(xt, t, ctx, mask) - v) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    xt = torch.randn(B, 3, 32, 32)
    ctx2 = torch.cat([ctx, torch.randn(B, T, cdim)], 0)
    mask2 = torch.cat([mask, mask], 0)

    def sample_step():
        with torch.no_grad():
            t = torch.full((2 * B,), 500.0)
            eps = model(torch.cat([xt, xt], 0), t, ctx2, mask2)
            ec, eu = eps.chunk(2)
            out = eu + 3.0 * (ec - eu)
            return float(out[0, 0, 0, 0])

    train_ms, train_runs = median_ms(train_step, cfg["budget_s"])
    sample_ms, sample_runs = median_ms(sample_step, cfg["budget_s"])
    print(json.dumps({
        "params": sum(p.numel() for p in model.parameters()),
        "trainStepMs": train_ms, "trainRuns": train_runs,
        "sampleStepMs": sample_ms, "sampleRuns": sample_runs,
        "threads": torch.get_num_threads(), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
