"""A convolutional autoencoder on MNIST digits: strided Conv2d encoder, ConvTranspose2d
decoder, MSELoss, Adam, and a look at the reconstruction error on held-out digits."""
import argparse
import gzip
import os

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),    # 14x14
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),   # 7x7
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),  # 28x28
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    with gzip.open(os.path.join(args.data_dir, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:320]
    images = torch.from_numpy(images.astype(np.float32) / 255.0)
    train_loader = DataLoader(TensorDataset(images[:256]), batch_size=args.batch_size, shuffle=True)

    model = Autoencoder()
    if args.init:
        model.load_state_dict(torch.load(args.init))
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-5)
    step = 0
    while step < args.steps:
        for (img,) in train_loader:
            output = model(img)
            loss = criterion(output, img)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            print(f"step [{step}/{args.steps}], loss:{loss.item():.6f}")
            if step == args.steps:
                break
    if args.steps:
        model.eval()
        with torch.no_grad():
            held_out = images[256:]
            print(f"held-out loss {criterion(model(held_out), held_out).item():.6f}")
    if args.save_model:
        torch.save(model.state_dict(), args.save_model)


if __name__ == "__main__":
    main()
