"""A stand-in for the authors' released DFREC inference network, built from public libraries.

Same module and tensor names as the release (``botianzhe/DFREC``: ``DFREC_eval.py``,
``models/unet.py``, ``models/mae.py``), written for these tests: smp's DeepLabV3+ for the
ISM; the attention U-Net ``SourceRecoverNet_Attention2`` layout; lightly's ``MAEBackbone`` /
``MAEDecoder`` naming replicated over a torchvision ``VisionTransformer`` (lightly itself
pulls in pytorch-lightning and more, so it is not a test dependency). ``forward`` follows
the release's inference: ``m = ISM(x)``, U-Net on ``m * x``, released masking (patch sums,
threshold 250 / low 50, ascending argsort, no class-token shift), MAE on ``x``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.vision_transformer import Encoder, VisionTransformer


class conv_block(nn.Module):  # noqa: N801 - release names
    def __init__(self, ch_in, ch_out):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(ch_in, ch_out, 3, 1, 1), nn.BatchNorm2d(ch_out), nn.ReLU(),
            nn.Conv2d(ch_out, ch_out, 3, 1, 1), nn.BatchNorm2d(ch_out), nn.ReLU(),
        )

    def forward(self, x):
        return self.conv(x)


class up_conv(nn.Module):  # noqa: N801
    def __init__(self, ch_in, ch_out):
        super().__init__()
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(ch_in, ch_out, 3, 1, 1), nn.BatchNorm2d(ch_out), nn.ReLU())

    def forward(self, x):
        return self.up(x)


class Attention_block(nn.Module):  # noqa: N801
    def __init__(self, F_g, F_l, F_int):  # noqa: N803
        super().__init__()
        self.W = nn.Sequential(nn.Conv2d(F_l, F_int, 1), nn.BatchNorm2d(F_int))
        self.Conv1x1 = nn.Conv2d(F_int, 1, 1, bias=False)
        self.W_g = nn.Sequential(nn.Conv2d(F_g, F_int, 1), nn.BatchNorm2d(F_int))
        self.W_x = nn.Sequential(nn.Conv2d(F_l, F_int, 1), nn.BatchNorm2d(F_int))
        self.psi = nn.Sequential(nn.Conv2d(F_int, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, g, x):
        q = torch.sigmoid(self.Conv1x1(self.W(x)))
        psi = self.psi(F.relu(self.W_g(g) + self.W_x(x)))
        return x * (psi + q)


class SourceRecoverNet_Attention2(nn.Module):  # noqa: N801
    def __init__(self, widths=(32, 64, 128, 256, 1024), idout=98):
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        self.Maxpool = nn.MaxPool2d(2, 2)
        self.Conv1, self.Conv2, self.Conv3 = conv_block(3, w1), conv_block(w1, w2), conv_block(w2, w3)
        self.Conv4, self.Conv5 = conv_block(w3, w4), conv_block(w4, w5)
        self.Up5, self.Up_conv5, self.Att5 = up_conv(w5 // 2, w4), conv_block(2 * w4, w4), Attention_block(w4, w4, w4 // 2)
        self.Up4, self.Up_conv4, self.Att4 = up_conv(w4, w3), conv_block(2 * w3, w3), Attention_block(w3, w3, w3 // 2)
        self.Up3, self.Up_conv3, self.Att3 = up_conv(w3, w2), conv_block(2 * w2, w2), Attention_block(w2, w2, w2 // 2)
        self.Up2, self.Up_conv2, self.Att2 = up_conv(w2, w1), conv_block(2 * w1, w1), Attention_block(w1, w1, w1 // 2)
        self.Conv_1x1 = nn.Conv2d(w1, 3, 1)
        self.tConv4 = conv_block(w5 // 2, idout)
        self.half = w5 // 2

    def forward(self, x):
        x1 = self.Conv1(x)
        x2 = self.Conv2(self.Maxpool(x1))
        x3 = self.Conv3(self.Maxpool(x2))
        x4 = self.Conv4(self.Maxpool(x3))
        x5 = self.Conv5(self.Maxpool(x4))
        x51, x52 = x5[:, : self.half], x5[:, self.half :]
        d = self.Up5(x51)
        d = self.Up_conv5(torch.cat((self.Att5(d, x4), d), 1))
        d = self.Up4(d)
        d = self.Up_conv4(torch.cat((self.Att4(d, x3), d), 1))
        d = self.Up3(d)
        d = self.Up_conv3(torch.cat((self.Att3(d, x2), d), 1))
        d = self.Up2(d)
        d = self.Up_conv2(torch.cat((self.Att2(d, x1), d), 1))
        out = torch.sigmoid(self.Conv_1x1(d))
        f5 = self.tConv4(x52)
        return out, f5.flatten(2), x51.mean((2, 3)), x52.mean((2, 3))


def _gather(x, idx):
    return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def _patchify(images, p):
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // p, p, w // p, p)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)


class MAEBackbone(nn.Module):
    """lightly's torchvision-based MAEBackbone naming: class_token, conv_proj, encoder, heads."""

    def __init__(self, vit: VisionTransformer):
        super().__init__()
        self.class_token = vit.class_token
        self.conv_proj = vit.conv_proj
        self.encoder = vit.encoder
        self.heads = vit.heads

    def encode(self, images, idx_keep):
        x = self.conv_proj(images).flatten(2).transpose(1, 2)
        x = torch.cat((self.class_token.expand(x.shape[0], -1, -1), x), 1) + self.encoder.pos_embedding
        x = _gather(x, idx_keep)
        return self.encoder.ln(self.encoder.layers(self.encoder.dropout(x)))


class MAEDecoder(Encoder):
    """lightly's MAEDecoder naming: a torchvision Encoder plus decoder_embed and prediction_head."""

    def __init__(self, seq_length, num_layers, num_heads, embed_input_dim, hidden_dim, mlp_dim, out_dim):
        super().__init__(seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout=0.0, attention_dropout=0.0)
        self.decoder_embed = nn.Linear(embed_input_dim, hidden_dim)
        self.prediction_head = nn.Linear(hidden_dim, out_dim)


class MAE(nn.Module):
    """The release's MAE (``models/mae.py``) with the noise passed in, for exact comparison."""

    def __init__(self, vit: VisionTransformer, dec_dim=512, dec_heads=16, fusion_dim=196, maskratio=0.5, threshold=250.0):
        super().__init__()
        self.mask_ratio, self.threshold = maskratio, threshold
        self.patch_size, self.sequence_length = vit.patch_size, vit.seq_length
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_dim))
        self.backbone = MAEBackbone(vit)
        self.decoder = MAEDecoder(vit.seq_length, 1, dec_heads, vit.hidden_dim + fusion_dim, dec_dim, dec_dim * 4, vit.patch_size**2 * 3)

    def calcmask(self, maskimg, noise):
        w = _patchify(maskimg, self.patch_size).sum(2)
        mean = w.mean(1)
        full = mean >= self.threshold
        w = torch.where(full[:, None] | (w <= 50), noise, w)
        num_keep = int(self.sequence_length * (1 - self.mask_ratio))  # 197 * 0.5 -> 98
        order = torch.argsort(w, dim=1)
        return order[:, :num_keep], order[:, num_keep:]

    def forward(self, images, maskimg, feature, noise):
        idx_keep, idx_mask = self.calcmask(maskimg, noise)
        enc = torch.cat((self.backbone.encode(images, idx_keep), feature), 2)
        emb = self.decoder.decoder_embed(enc)
        full = self.mask_token.expand(images.shape[0], self.sequence_length, -1).clone()
        full = full.scatter(1, idx_keep.unsqueeze(-1).expand(-1, -1, emb.shape[-1]), emb)
        dec = self.decoder(full)  # torchvision Encoder: + pos_embedding, layers, ln
        pred = torch.sigmoid(self.decoder.prediction_head(_gather(dec, idx_mask)))
        patches = _patchify(images, self.patch_size)
        rec = patches.scatter(1, idx_mask.unsqueeze(-1).expand(-1, -1, pred.shape[-1]), pred)
        n, length, _ = rec.shape
        g, p = int(length**0.5), self.patch_size
        rec = torch.einsum("nhwpqc->nchpwq", rec.reshape(n, g, g, p, p, 3)).reshape(n, 3, g * p, g * p)
        return pred, idx_keep, idx_mask, rec


class ReleaseDFREC(nn.Module):
    """ISM (smp DeepLabV3+ effnet-b0, sigmoid), U-Net and MAE as the release wires them."""

    def __init__(self, vit_kwargs=None, unet_widths=(32, 64, 128, 256, 1024), dec_dim=512, dec_heads=16):
        super().__init__()
        import segmentation_models_pytorch as smp

        self.gunet = smp.DeepLabV3Plus("efficientnet-b0", encoder_weights=None, classes=1, activation="sigmoid")
        self.recover1 = SourceRecoverNet_Attention2(unet_widths, idout=98)
        vit = VisionTransformer(**(vit_kwargs or dict(image_size=224, patch_size=16, num_layers=24, num_heads=16, hidden_dim=1024, mlp_dim=4096)))
        self.recover2 = MAE(vit, dec_dim=dec_dim, dec_heads=dec_heads)

    @torch.no_grad()
    def randomise_(self, seed: int = 0) -> "ReleaseDFREC":
        """Give every tensor a random value (BN variances positive) so no mapping error hides behind 0/1 inits."""
        g = torch.Generator().manual_seed(seed)
        for name, t in self.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.dim() >= 2:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) / fan_in**0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1 + (1.0 if "weight" in name else 0.0))
        return self

    def checkpoint(self) -> dict:
        return {
            "epoch": 7,
            "state_dict": self.gunet.state_dict(),
            "recover1_state_dict": self.recover1.state_dict(),
            "recover2_state_dict": self.recover2.state_dict(),
        }

    @torch.no_grad()
    def forward(self, x, noise):
        m = self.gunet(x)
        source, rows, f_s, f_t = self.recover1(m * x)
        pred, idx_keep, idx_mask, target = self.recover2(x, m, rows, noise)
        return dict(mask=m, source=source, f_s=f_s, f_t=f_t, pred=pred, idx_keep=idx_keep, idx_mask=idx_mask, target=target)
