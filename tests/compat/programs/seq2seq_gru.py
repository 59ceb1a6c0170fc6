"""Sequence to sequence with GRUs: an encoder GRU reads a sequence of digits, a decoder GRU
writes it reversed, with teacher forcing; NLLLoss over log_softmax, SGD."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

SOS_token = 0
VOCAB = 12  # SOS, EOS-free digits 1..10, padding unused


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(EncoderRNN, self).__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)

    def forward(self, input):
        output, hidden = self.gru(self.embedding(input))
        return output, hidden


class DecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size):
        super(DecoderRNN, self).__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, encoder_hidden, target_tensor):
        batch_size, length = target_tensor.shape
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS_token)
        decoder_hidden = encoder_hidden
        outputs = []
        for i in range(length):
            output, decoder_hidden = self.forward_step(decoder_input, decoder_hidden)
            outputs.append(output)
            decoder_input = target_tensor[:, i].unsqueeze(1)  # teacher forcing
        return F.log_softmax(torch.cat(outputs, dim=1), dim=-1), decoder_hidden

    def forward_step(self, input, hidden):
        output = F.relu(self.embedding(input))
        output, hidden = self.gru(output, hidden)
        return self.out(output), hidden


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=24)
    parser.add_argument("--length", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    encoder = EncoderRNN(VOCAB, args.hidden_size)
    decoder = DecoderRNN(args.hidden_size, VOCAB)
    if args.init:
        checkpoint = torch.load(args.init)
        encoder.load_state_dict(checkpoint["encoder"])
        decoder.load_state_dict(checkpoint["decoder"])
    encoder_optimizer = optim.SGD(encoder.parameters(), lr=args.lr, momentum=0.9)
    decoder_optimizer = optim.SGD(decoder.parameters(), lr=args.lr, momentum=0.9)
    criterion = nn.NLLLoss()

    for step in range(1, args.steps + 1):
        input_tensor = torch.randint(1, VOCAB, (args.batch_size, args.length))
        target_tensor = input_tensor.flip(1)
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        _, encoder_hidden = encoder(input_tensor)
        decoder_outputs, _ = decoder(encoder_hidden, target_tensor)
        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), target_tensor.view(-1))
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
        print(f"step {step} loss {loss.item():.6f}")
    if args.save_model:
        torch.save({"encoder": encoder.state_dict(), "decoder": decoder.state_dict()}, args.save_model)


if __name__ == "__main__":
    main()
