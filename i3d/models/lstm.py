"""ConvNet+LSTM (the paper's model (a), Table 1: 9M): 2D Inception-V1 per frame -> BN-LSTM (512) -> FC.

Input (RGB only): B x 3 x T x H x W, frames in [-1, 1] taken one in every 5 of the 25 fps stream
(5 fps). Training uses T = 25 (5 s) with a cross-entropy loss at *every* time step
(:meth:`ConvLSTM.forward_per_time`, registry ``loss="per_step"``); at test T = 50 (10 s) and only the
last time step's output counts, which is what :meth:`ConvLSTM.forward` returns.

The LSTM is batch-normalised as in Cooijmans et al. (the paper's "LSTM with batch normalization"): BN on
the input-to-hidden and hidden-to-hidden projections and on the cell state before the output tanh.
Simplifications, which keep the parameter count at the paper's ~9M: the statistics are shared over
time steps (Cooijmans keeps them per step), and the input projection's BN shift serves as the gate
bias. Batch statistics need training batches of 2 or more clips.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from i3d.models.inception import FEATURE_DIM, InceptionV1, frame_features
from i3d.models.layers import BN_EPS

HIDDEN = 512


class BNLSTM(nn.Module):
    """A one-layer batch-normalised LSTM over B x T x D sequences; returns every step's hidden state."""

    def __init__(self, input_size: int, hidden_size: int, *, bn_momentum: float = 0.01) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        gates = 4 * hidden_size
        self.input_proj = nn.Linear(input_size, gates, bias=False)
        self.hidden_proj = nn.Linear(hidden_size, gates, bias=False)
        self.bn_input = nn.BatchNorm1d(gates, eps=BN_EPS, momentum=bn_momentum)
        self.bn_hidden = nn.BatchNorm1d(gates, eps=BN_EPS, momentum=bn_momentum)
        self.bn_cell = nn.BatchNorm1d(hidden_size, eps=BN_EPS, momentum=bn_momentum)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Orthogonal recurrent and Xavier input weights; BN scale 0.1 (Cooijmans et al.); forget bias 1."""
        nn.init.xavier_uniform_(self.input_proj.weight)
        for chunk in self.hidden_proj.weight.chunk(4, dim=0):
            nn.init.orthogonal_(chunk)
        for bn in (self.bn_input, self.bn_hidden):
            nn.init.constant_(bn.weight, 0.1)
            nn.init.zeros_(bn.bias)
        nn.init.ones_(self.bn_input.bias[self.hidden_size : 2 * self.hidden_size])  # gate order i, f, g, o
        nn.init.constant_(self.bn_cell.weight, 0.1)
        nn.init.zeros_(self.bn_cell.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B x T x D -> B x T x hidden."""
        b, t, _ = x.shape
        gx = self.bn_input(self.input_proj(x).reshape(b * t, -1)).reshape(b, t, -1)
        h = x.new_zeros(b, self.hidden_size)
        c = x.new_zeros(b, self.hidden_size)
        outputs = []
        for step in range(t):
            i, f, g, o = (gx[:, step] + self.bn_hidden(self.hidden_proj(h))).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(self.bn_cell(c))
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class ConvLSTM(nn.Module):
    """Inception-V1 (2D, no head) on each frame, pooled 1024-d features into a BN-LSTM, then a linear classifier."""

    CLASSIFIER: ClassVar[str] = "fc"
    """The classifier's attribute name; fine-tuning re-initialises it."""

    def __init__(
        self, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5, *, bn_momentum: float = 0.01
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.cnn = InceptionV1(None, in_channels, bn_momentum=bn_momentum)
        self.lstm = BNLSTM(FEATURE_DIM, HIDDEN, bn_momentum=bn_momentum)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(HIDDEN, num_classes)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(frame_features(self.cnn, x).transpose(1, 2))  # B x T x 512

    def forward_per_time(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at every time step, B x num_classes x T (the training loss uses them all)."""
        return self.fc(self.dropout(self._hidden(x))).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The last time step's logits, B x num_classes: the paper's test-time output."""
        return self.forward_per_time(x)[:, :, -1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last step's LSTM output, B x 512: what the test-time logits classify."""
        return self._hidden(x)[:, -1]

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """The linear classifier on B x 512 features; no dropout (test time)."""
        return self.fc(features)
