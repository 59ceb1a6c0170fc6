"""A small GAN learning a ring of Gaussians in the plane: MLP generator and discriminator,
BCELoss with real/fake labels, Adam with the usual betas."""
import argparse
import math

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def real_samples(n, rng):
    angle = rng.integers(0, 8, size=n) * (2 * math.pi / 8)
    centers = np.stack([np.cos(angle), np.sin(angle)], axis=1) * 2.0
    return torch.from_numpy((centers + 0.05 * rng.standard_normal((n, 2))).astype(np.float32))


class Generator(nn.Module):
    def __init__(self, nz, hidden):
        super(Generator, self).__init__()
        self.main = nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(True), nn.Linear(hidden, hidden), nn.ReLU(True),
                                  nn.Linear(hidden, 2))

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, hidden):
        super(Discriminator, self).__init__()
        self.main = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Linear(hidden, hidden), nn.LeakyReLU(0.2, inplace=True),
                                  nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, input):
        return self.main(input).view(-1, 1).squeeze(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--nz", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--manualSeed", type=int, default=999)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    opt = parser.parse_args()

    torch.manual_seed(opt.manualSeed)
    rng = np.random.default_rng(opt.manualSeed)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    netG = Generator(opt.nz, opt.hidden).to(device)
    netD = Discriminator(opt.hidden).to(device)
    if opt.init:
        checkpoint = torch.load(opt.init)
        netG.load_state_dict(checkpoint["netG"])
        netD.load_state_dict(checkpoint["netD"])

    criterion = nn.BCELoss()
    fixed_noise = torch.randn(64, opt.nz, device=device)
    real_label, fake_label = 1.0, 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))

    for i in range(opt.steps):
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real = real_samples(opt.batch_size, rng).to(device)
        label = torch.full((opt.batch_size,), real_label, dtype=real.dtype, device=device)
        errD_real = criterion(netD(real), label)
        errD_real.backward()
        D_x = netD(real).mean().item()
        noise = torch.randn(opt.batch_size, opt.nz, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) Update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        optimizerG.step()
        print(f"[{i}/{opt.steps}] Loss_D: {errD.item():.6f} Loss_G: {errG.item():.6f} D(x): {D_x:.6f}")
    if opt.steps:
        with torch.no_grad():
            spread = netG(fixed_noise).norm(dim=1).mean().item()
        print(f"generated radius {spread:.4f} (real: 2.0)")
    if opt.save_model:
        torch.save({"netG": netG.state_dict(), "netD": netD.state_dict()}, opt.save_model)


if __name__ == "__main__":
    main()
