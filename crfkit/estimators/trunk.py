"""The truncated ResNet trunk shared by CRF-net and Linearization-Net (REFERENCE.md s.5)."""

from .._optional import require

torch = require("torch", "torch", feature="the CRF estimators")
nn = torch.nn


def _check_input(x, channels, min_size, who):
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{who} expects input of shape (B, {channels}, H, W), got {tuple(x.shape)}")
    if min(x.shape[2:]) < min_size:
        raise ValueError(f"{who} needs H, W >= {min_size}, got {tuple(x.shape[2:])}")


class Bottleneck(nn.Module):
    """ResNet bottleneck ``1x1 -> 3x3 -> 1x1`` with an identity or projection shortcut."""

    def __init__(self, in_ch, mid_ch, out_ch, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, mid_ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_ch)
        self.conv2 = nn.Conv2d(mid_ch, mid_ch, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_ch)
        self.conv3 = nn.Conv2d(mid_ch, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class Trunk(nn.Module):
    """7x7/2 conv, 3x3/2 max-pool, bottlenecks [64, 64, 256] x3, [128, 128, 512] x2 (stride 2).

    On a 227x227 input the feature maps are 114, 57 and 29 pixels wide, as in
    CRF-net.  The output is the spatial mean of the last feature map (the
    global form of CRF-net's final average pool, so any input size works).

    Parameters
    ----------
    in_channels : int
    width : float
        Channel multiplier (1.0 is the published trunk; smaller values only
        for tests and quick experiments).
    """

    def __init__(self, in_channels=3, width=1.0):
        super().__init__()
        c = lambda n: max(4, int(round(n * width)))  # noqa: E731
        self.in_channels = in_channels
        self.out_channels = c(512)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c(64), 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(c(64)),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.stage1 = nn.Sequential(
            Bottleneck(c(64), c(64), c(256)), Bottleneck(c(256), c(64), c(256)), Bottleneck(c(256), c(64), c(256))
        )
        self.stage2 = nn.Sequential(Bottleneck(c(256), c(128), c(512), stride=2), Bottleneck(c(512), c(128), c(512)))

    def features(self, x):
        """The last feature map, (B, C, H/8, W/8)."""
        _check_input(x, self.in_channels, 8, "Trunk")
        return self.stage2(self.stage1(self.stem(x)))

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))
