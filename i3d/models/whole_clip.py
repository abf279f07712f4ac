"""I3D on a whole clip in overlapping temporal chunks, with the features (and so the logits) of one pass.

Why: I3D tests on the whole clip (paper §3), and a long UCF-101/HMDB-51/local clip in one pass can exhaust
memory (the activations grow with its length). The clip's features are the mean over time of the per-time
pooled Mixed_5c features (its logits, the affine logits layer on that mean, are the mean of per-time logits);
each per-time output sees a bounded window of frames, so chunks that give every output its whole window
reproduce the one-pass outputs exactly, and their mean is the one-pass features (up to float rounding).

What makes a chunk's outputs the one-pass outputs (TF "SAME" padding, ``layers.same_padding``):
  * the net's temporal stride is 8 (conv1, pool 4a and pool 5a stride 2), so chunks start at multiples of
    8 frames: a chunk's k-th output is then the clip's (start/8 + k)-th;
  * a strided layer's before-padding depends on the parity of its input length, so every chunk's length is
    congruent to the clip's modulo 8 (then every strided layer pads as in the one pass);
  * output j depends on frames 8j-47 .. 8j+62 (conv1 7/2, conv 2c, Mixed_3b/3c, pool 4a 3/2, Mixed_4b-4f,
    pool 5a 2/2, Mixed_5b/5c, the final 2-step average pool): ``CONTEXT_FRAMES`` = 64 on each side covers it.
Memory: the network's activations are bounded by the chunk; the clip's input tensor itself is still whole
(C×T×H×W float32: 0.6 MB per 224×224 RGB frame, 9 GB for 10 minutes at 25 fps).
"""
from __future__ import annotations

import torch

from ..models.inception import InceptionV1

TEMPORAL_STRIDE = 8
CONTEXT_FRAMES = 64  # a multiple of TEMPORAL_STRIDE, at least the 47 before and 55 after an output's 8 frames

#: Frames per chunk by default: 20 s at 25 fps, so that the stand-in clips and Kinetics' 10 s clips (the paper's
#: 250 frames) take one pass; an I3D pass over 512 frames of 224×224 needs a few GB.
CHUNK_FRAMES = 512


def whole_clip_features(model: InceptionV1, x: torch.Tensor, chunk_frames: int = CHUNK_FRAMES) -> torch.Tensor:
    """``model.features(x)`` (B×C×T×H×W -> B×1024, averaged over time) through chunks of at most
    ``chunk_frames`` frames (plus up to 7 to keep the length's residue) when T is longer."""
    if not model.inflated:
        raise ValueError("chunking is for the inflated (I3D) network; a 2D net's outputs are per frame already")
    if chunk_frames < 2 * CONTEXT_FRAMES + 2 * TEMPORAL_STRIDE:
        raise ValueError(f"chunk_frames must be >= {2 * CONTEXT_FRAMES + 2 * TEMPORAL_STRIDE} (twice the "
                         f"{CONTEXT_FRAMES} frames of context plus two outputs), got {chunk_frames}")
    frames = x.shape[2]
    if frames <= chunk_frames:
        return model.features(x)
    outputs = -(-frames // TEMPORAL_STRIDE) - 1  # the final average pool (2 steps, VALID) drops one
    per_chunk = (chunk_frames - 2 * CONTEXT_FRAMES) // TEMPORAL_STRIDE - 1
    pieces = []
    for first in range(0, outputs, per_chunk):
        last = min(first + per_chunk, outputs)  # outputs first .. last-1
        start = max(0, TEMPORAL_STRIDE * first - CONTEXT_FRAMES)
        end = TEMPORAL_STRIDE * (last + 1) + CONTEXT_FRAMES
        end = frames if end >= frames else min(frames, end + frames % TEMPORAL_STRIDE)
        offset = start // TEMPORAL_STRIDE
        pieces.append(model.features_per_time(x[:, :, start:end])[:, :, first - offset:last - offset])
    return torch.cat(pieces, dim=2).mean(dim=2)
